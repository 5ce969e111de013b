import { join, relative } from "node:path";
import { quarantinedUnder } from "../util/fsx";
import { Engine } from "../runs/engine";
import { RUN_ID } from "../runs/history";
import { readRange, tailLines, searchLines } from "../runs/logread";
import { highballHome, type HighballSettings } from "../home";
import type { RunRecord } from "../runs/types";
import { jobProblems } from "../job/validate";
import { resolveProfile, describeProfile, type ProfileDef } from "../profile";

import type { Express } from "express";
import { fail, int, wrap, mountOnce, type AdminRED, type Guards } from "./shared";
import { PolledAnswer } from "./answer";

/** The jobs, runs, logs and profiles routes of the sidebar (mounted once per admin app). */
export function mountRunRoutes(RED: AdminRED): void {
  mountOnce(RED, "runs", (app, guards) => routes(RED, app, guards));
}

function routes(RED: AdminRED, app: Express, { read, write }: Guards): void {
  const engine = () => Engine.get(highballHome(RED.settings as HighballSettings));

  // From the summaries kept as runs end: O(jobs), whatever the length of their history. The
  // Backups tab polls it every 30 s. Each job's JSON is kept with what it was made from, and
  // made again only when one of those changed; an unchanged list goes out as the bytes (or the
  // 304) of the last one.
  const jobsAnswer = new PolledAnswer("jobs");
  const made = new Map<string, { from: unknown[]; json: string }>();
  app.get("/highball/jobs", read, wrap(async (req, res) => {
    const e = engine();
    await e.ready;
    const item = (key: string, live: () => Record<string, unknown>, ...from: unknown[]) => {
      const run = e.runningFor(key);
      from.push(run, run?.progress, e.history.summary(key));
      const had = made.get(key);
      if (had && had.from.length === from.length && had.from.every((x, i) => x === from[i])) return had.json;
      const running = run ? { runId: run.runId, startedAt: run.startedAt, progress: run.progress } : null;
      // Its live part serialised now, its history's part as the summary serialised it.
      const json = `${JSON.stringify({ ...live(), running }).slice(0, -1)},${e.history.summaries.fragment(key)}}`;
      made.set(key, { from, json });
      return json;
    };
    const jobs: string[] = [];
    const listed = new Set<string>();
    for (const j of e.jobs.values()) {
      listed.add(j.nodeId);
      const nextRun = e.nextRuns.get(j.nodeId) ?? null;
      jobs.push(item(j.nodeId, () => ({
        id: j.nodeId, name: j.job.name, engine: j.job.engine, enabled: j.job.enabled !== false, profile: j.job.profile ?? null, runnable: true, nextRun,
      }), j.job, nextRun));
    }
    // Jobs that no backup-job node owns (msg.job straight from http in) are listed under their
    // name, from their history or their running run; deleted jobs stay out (they are restorable).
    const deleted = await e.history.deletedTest();
    const adhoc = new Map<string, string>();
    for (const h of await e.history.keys()) if (!e.jobs.has(h.key) && !deleted(h.key)) adhoc.set(h.key, h.name);
    for (const r of e.running()) if (!e.jobs.has(r.key)) adhoc.set(r.key, r.job.name);
    for (const [key, name] of adhoc) {
      listed.add(key);
      // A profile's repository and restore runs (lib/operations) name their profile in their key.
      const profile = /^(?:repository|restore):(.+)$/.exec(key)?.[1] ?? null;
      const engineOf = e.runningFor(key)?.job.engine ?? e.history.summary(key)?.engine ?? "rsync";
      // runnable: false, as POST highball/jobs/:id/run only runs a deployed job (the tab offers no Run now).
      jobs.push(item(key, () => ({ id: key, name, profile, engine: engineOf, enabled: true, runnable: false, nextRun: null }), "adhoc", name, engineOf));
    }
    for (const key of made.keys()) if (!listed.has(key)) made.delete(key);
    jobsAnswer.send(req, res, jobs);
  }));

  // State files that did not parse and were moved aside (the Backups tab shows them), named
  // inside the storage folder only.
  app.get("/highball/notices", read, wrap(async (_req, res) => {
    const e = engine();
    await e.ready;
    res.json({ corrupt: quarantinedUnder(e.home).map((q) => ({ file: relative(e.home, q.file), movedTo: relative(e.home, q.movedTo), at: q.at, reason: q.reason })) });
  }));

  // The editor checks a job as it is typed with the very schema the runtime uses.
  app.post("/highball/validate/job", read, wrap(async (req, res) => {
    res.json({ problems: jobProblems(req.body) });
  }));

  app.get("/highball/profiles", read, wrap(async (_req, res) => {
    const e = engine();
    const list = [...e.profiles.entries()].map(([id, p]) => {
      try {
        return { id, name: p.name, effective: describeProfile(resolveProfile(p.name, e.profileSet())), error: null };
      } catch (err) {
        return { id, name: p.name, effective: null, error: (err as Error).message };
      }
    });
    res.json(list);
  }));

  // The editor shows the effective profile of what is being edited, parents taken from the
  // deployed profiles, secrets masked.
  app.post("/highball/profiles/preview", read, wrap(async (req, res) => {
    const body = (req.body ?? {}) as { name?: unknown; options?: unknown; hasPassword?: unknown };
    const name = typeof body.name === "string" && body.name.trim() ? body.name.trim() : "(this profile)";
    if (body.options !== undefined && (typeof body.options !== "object" || body.options === null || Array.isArray(body.options))) return fail(res, 400, "options must be an object of PRestic keys");
    try {
      const set = engine().profileSet();
      // A password typed in the dialog (or kept as its credential) counts, never sent here itself.
      set.set(name, { options: (body.options ?? {}) as ProfileDef["options"], password: body.hasPassword === true ? "(typed)" : undefined });
      res.json(describeProfile(resolveProfile(name, set)));
    } catch (err) {
      res.json({ error: (err as Error).message });
    }
  }));

  app.get("/highball/jobs/:id/runs", read, wrap(async (req, res) => {
    const e = engine();
    const before = typeof req.query.before === "string" && /^\d+$/.test(req.query.before) ? Number(req.query.before) : undefined;
    const runs = await e.history.list(String(req.params.id), { limit: int(req.query.limit, 50, 1, 1000), before });
    res.json(runs.map(strip));
  }));

  app.post("/highball/jobs/:id/run", write, wrap(async (req, res) => {
    const e = engine();
    const j = e.jobs.get(String(req.params.id));
    if (!j) return fail(res, 404, "no deployed job has that id");
    const busy = e.runningFor(j.nodeId);
    if (busy) return fail(res, 409, `job "${j.job.name}" is already running (run ${busy.runId})`);
    j.trigger();
    res.status(202).json({ ok: true, job: j.job.name });
  }));

  app.post("/highball/runs/:runId/cancel", write, wrap(async (req, res) => {
    const id = String(req.params.runId);
    if (!RUN_ID.test(id)) return fail(res, 400, "that is not a run id");
    if (!engine().cancel(id, "the run was cancelled from the editor")) return fail(res, 404, "no run with that id is running");
    res.json({ ok: true });
  }));

  app.get("/highball/runs/:runId/log", read, wrap(async (req, res) => {
    const e = engine();
    const id = String(req.params.runId);
    if (!RUN_ID.test(id)) return fail(res, 400, "that is not a run id");
    const active = e.get(id);
    const record: Pick<RunRecord, "logFile"> | null = active ? { logFile: active.logFile } : await e.history.find(id);
    if (!record) return fail(res, 404, "no run with that id");
    if (!record.logFile) return fail(res, 410, "the log of that run has been removed by the retention settings");
    const file = join(e.history.logsDir, record.logFile);
    // The whole log as a file (the Backups tab's download): streamed, never read into memory.
    if (req.query.download !== undefined) {
      res.setHeader("Content-Disposition", `attachment; filename="${record.logFile.replace(/[^A-Za-z0-9._-]/g, "_")}"`);
      res.setHeader("X-Content-Type-Options", "nosniff");
      res.type("text/plain; charset=utf-8");
      res.sendFile(record.logFile, { root: e.history.logsDir }, (err) => { if (err && !res.headersSent) fail(res, 410, "the log of that run is gone"); });
      return;
    }
    try {
      if (typeof req.query.q === "string") {
        res.json(await searchLines(file, req.query.q.slice(0, 500), int(req.query.limit, 1000, 1, 10000)));
      } else if (req.query.tail !== undefined) {
        res.type("text/plain; charset=utf-8").send((await tailLines(file, int(req.query.tail, 100, 0, 100000))).join("\n"));
      } else {
        const r = await readRange(file, int(req.query.offset, 0, 0, Number.MAX_SAFE_INTEGER), int(req.query.length, 256 * 1024, 0, 16 * 1024 * 1024));
        res.setHeader("X-Log-Size", String(r.size));
        res.setHeader("X-Log-Offset", String(r.offset));
        res.type("text/plain; charset=utf-8").send(r.text);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return fail(res, 410, "the log of that run is gone");
      throw err;
    }
  }));
}

function strip(r: RunRecord): Omit<RunRecord, "details"> {
  const { details: _details, ...rest } = r;
  return rest;
}

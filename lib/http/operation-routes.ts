/**
 * The Snapshots tab's repository actions and restore planning (lib/operations):
 *   POST highball/profiles/:id/check     {readDataSubset?}        a check run: 202 {runId, job}
 *   POST highball/profiles/:id/forget    {keep, dryRun}           a forget run; a dry run waits and
 *                                                                  answers {runId, status, remove, keep}
 *   POST highball/profiles/:id/prune                              a prune run: 202 {runId, job}
 *   POST highball/profiles/:id/restore/files {snapshot, paths, target, offset, limit, existingOnly}
 *                                                                  what a restore would write, one page
 *                                                                  (the restore is listed once, its pages
 *                                                                  read from that list for a few minutes)
 *   GET  highball/profiles/:id/origins                            snapshot id -> the run (and job) that made it
 * Each action is a run under the job `repository:<profile>` (see lib/operations/repository.ts),
 * so it is in GET highball/jobs, its history and its log like any run. Writes need highball.write.
 */
import type { Express, Request, Response, RequestHandler } from "express";
import { Engine } from "../runs/engine";
import { highballHome, type HighballSettings } from "../home";
import { resolveProfile, keepOf, type EffectiveProfile } from "../profile";
import { SnapshotError } from "../snapshots";
import { startRepositoryRun, forgetPlan, snapshotOrigins, BusyError, maintenanceKey, type RepositoryAction } from "../operations/repository";
import { restoreFiles, restoreLists, Abandoned, MAX_PAGE } from "../operations/restore";
import { profileRestoreBounds } from "../snapshots/roots";
import type { ForgetPolicy } from "../engines/restic";
import { fail, mountOnce, type AdminRED, type Guards } from "./shared";

export function mountOperationRoutes(RED: AdminRED): void {
  mountOnce(RED, "operations", (app, guards) => routes(RED, app, guards));
}

/** The deployed profile an :id names, resolved with its parents. */
export function profileOf(e: Engine, id: string): EffectiveProfile {
  const name = e.profileName(id);
  if (!name) throw new SnapshotError(404, "no deployed profile has that id or name");
  try {
    return resolveProfile(name, e.profileSet());
  } catch (err) {
    throw new SnapshotError(409, (err as Error).message);
  }
}

function handle(h: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res) => {
    h(req, res).catch((err: unknown) => {
      if (res.headersSent || err instanceof Abandoned) return; // answered, or nobody to answer
      if (err instanceof BusyError) res.status(409).json({ error: err.message, runId: err.runId });
      else if (err instanceof SnapshotError && err.reason) res.status(err.status).json({ error: err.message, reason: err.reason });
      else if (err instanceof SnapshotError) fail(res, err.status, err.message);
      else fail(res, 500, "the request could not be completed");
    });
  };
}

function body(req: Request): Record<string, unknown> {
  return req.body && typeof req.body === "object" && !Array.isArray(req.body) ? req.body as Record<string, unknown> : {};
}

const KEEP_FIELDS = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;

/** A keep policy from the request: whole numbers and a Go-style `within`; at least one rule. */
export function keepPolicy(v: unknown): ForgetPolicy {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new SnapshotError(400, "keep must be an object such as {\"daily\": 7, \"weekly\": 4}");
  const k = v as Record<string, unknown>;
  const out: ForgetPolicy = {};
  for (const f of KEEP_FIELDS) {
    const x = k[f];
    if (x === undefined || x === null || x === "" || x === 0) continue;
    const n = typeof x === "string" && /^\d+$/.test(x) ? Number(x) : x;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 100000) throw new SnapshotError(400, `keep ${f} must be a whole number`);
    out[f] = n;
  }
  if (k.within !== undefined && k.within !== null && k.within !== "") {
    if (typeof k.within !== "string" || !/^(\d+[ymdh])+$/.test(k.within)) throw new SnapshotError(400, "keep within must look like 1y5m7d2h");
    out.within = k.within;
  }
  if (!Object.keys(out).length) throw new SnapshotError(400, "a keep policy needs at least one rule (for example keep the last 10 snapshots); without one forget would remove everything");
  return out;
}

function routes(RED: AdminRED, app: Express, { read, write }: Guards): void {
  const engine = () => Engine.get(highballHome(RED.settings as HighballSettings));
  const profile = (req: Request) => profileOf(engine(), String(req.params.id));

  async function start(req: Request, res: Response, action: RepositoryAction, opts: Parameters<typeof startRepositoryRun>[3] = {}): Promise<void> {
    const p = profile(req);
    const run = await startRepositoryRun(engine(), p, action, opts);
    res.status(202).json({ runId: run.runId, job: maintenanceKey(p.name), command: action });
  }

  app.post("/highball/profiles/:id/check", write, handle(async (req, res) => {
    const subset = body(req).readDataSubset;
    if (subset !== undefined && subset !== "" && (typeof subset !== "string" || !/^(\d+(\.\d+)?%|\d+\/\d+|\d+(\.\d+)?[kKmMgGtT]?)$/.test(subset))) {
      throw new SnapshotError(400, "readDataSubset must be a percentage (5%), a part (1/10) or a size (500M)");
    }
    await start(req, res, "check", { readDataSubset: typeof subset === "string" && subset ? subset : undefined });
  }));

  app.post("/highball/profiles/:id/prune", write, handle(async (req, res) => {
    await start(req, res, "prune");
  }));

  // A dry run waits for restic (it only reads) and says which snapshots would go; the real one
  // is a run the tab follows like any other.
  // The profile's keep policy (its keep-* options, inherited), so the tab's forget starts from it.
  app.get("/highball/profiles/:id/keep", read, handle(async (req, res) => {
    const p = profile(req);
    res.json({ profile: p.name, keep: keepOf(p) });
  }));

  app.post("/highball/profiles/:id/forget", write, handle(async (req, res) => {
    const b = body(req);
    // No keep in the request: the profile's policy; neither: refused before restic starts.
    const own = b.keep === undefined || b.keep === null ? keepOf(profile(req)) : null;
    if (!own && (b.keep === undefined || b.keep === null)) {
      throw new SnapshotError(400, `profile "${profile(req).name}" has no keep policy (keep-daily, keep-last, ... in the profile): give one to forget, or set it on the profile`);
    }
    const keep = own ?? keepPolicy(b.keep);
    if (b.dryRun !== undefined && typeof b.dryRun !== "boolean") throw new SnapshotError(400, "dryRun must be true or false");
    if (b.dryRun !== true) return start(req, res, "forget", { keep });
    const run = await startRepositoryRun(engine(), profile(req), "forget", { keep, dryRun: true });
    const record = await run.result;
    res.json({ runId: record.runId, status: record.status, error: record.error, dryRun: true, ...forgetPlan(record) });
  }));

  app.post("/highball/profiles/:id/restore/files", read, handle(async (req, res) => {
    const b = body(req);
    const n = (v: unknown, d: number, max: number) => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? Math.min(v, max) : d);
    // The editor closed (or paged on) before the answer: restic stops unless another request waits for the same list.
    const gone = new AbortController();
    res.once("close", () => { if (!res.writableFinished) gone.abort(); });
    res.json(await restoreFiles(profile(req), {
      snapshot: b.snapshot, paths: b.paths, target: b.target,
      offset: n(b.offset, 0, Number.MAX_SAFE_INTEGER), limit: n(b.limit, 200, MAX_PAGE), existingOnly: b.existingOnly === true,
      bounds: profileRestoreBounds(engine(), RED.settings, profile(req)),
    }, restoreLists(highballHome(RED.settings as HighballSettings)), gone.signal));
  }));

  app.get("/highball/profiles/:id/origins", read, handle(async (req, res) => {
    const e = engine();
    await e.ready;
    const p = profile(req);
    const repo = p.options.repository ?? p.options["repository-file"] ?? "";
    res.json(await snapshotOrigins(e, repo));
  }));
}

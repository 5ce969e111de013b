/**
 * GET highball/metrics: the jobs in Prometheus text format, behind highball.read like every
 * read, so a scraper authenticates with one of Node-RED's adminAuth.tokens (README).
 */
import type { Express, RequestHandler, Response } from "express";
import { Engine } from "../runs/engine";
import { renderMetrics, METRICS_CONTENT_TYPE, type MetricJob } from "../runs/metrics";
import { knownRepositoryStats } from "../profile/repository";
import { highballHome, type HighballSettings } from "../home";
import { wrap, mountOnce, type AdminRED, type Guards } from "./shared";

export function mountMetricsRoutes(RED: AdminRED): void {
  mountOnce(RED, "metrics", (app, guards) => routes(RED, app, guards));
}

/** What a scraper refused by Node-RED's guard reads (Prometheus shows the status; curl shows this). */
export const REFUSED = "Unauthorized: GET highball/metrics needs a bearer token of a user with the permission highball.read (Node-RED's adminAuth: a token from adminAuth.tokens, or one issued to a user); see the README, section Prometheus.\n";

/** Node-RED's guard ends a refused request with a bare 401 "Unauthorized": say what is missing instead. */
const explain: RequestHandler = (_req, res, next) => {
  const end = res.end.bind(res) as (...a: unknown[]) => Response;
  res.end = ((...args: unknown[]) => {
    res.end = end as Response["end"];
    if (res.statusCode === 401 && !res.headersSent) {
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.setHeader("Content-Length", Buffer.byteLength(REFUSED));
      return end(REFUSED);
    }
    return end(...args);
  }) as Response["end"];
  next();
};

function routes(RED: AdminRED, app: Express, { read }: Guards): void {
  app.use("/highball/metrics", explain);
  app.get("/highball/metrics", read, wrap(async (_req, res) => {
    const e = Engine.get(highballHome(RED.settings as HighballSettings));
    await e.ready;
    const jobs: MetricJob[] = [];
    for (const j of e.jobs.values()) {
      jobs.push({ name: j.job.name, engine: j.job.engine, summary: e.history.summary(j.nodeId), running: !!e.runningFor(j.nodeId), nextRun: e.nextRuns.get(j.nodeId) ?? null });
    }
    // Jobs run from a message (no backup-job node) are in the summary under their name; deleted ones stay out.
    const deleted = await e.history.deletedTest();
    for (const s of e.history.summaries.all()) {
      if (e.jobs.has(s.key) || deleted(s.key)) continue;
      jobs.push({ name: s.name, engine: s.engine, summary: s, running: !!e.runningFor(s.key), nextRun: null });
    }
    const names = new Set([...e.profiles.values()].map((p) => p.name));
    const repos = [...knownRepositoryStats()].filter(([name]) => names.has(name)).map(([profile, s]) => ({ profile, size: s.size, snapshots: s.snapshots }));
    // Written as is: express's send() would move the charset in front of the version.
    const body = renderMetrics(jobs, repos);
    res.setHeader("Content-Type", METRICS_CONTENT_TYPE);
    res.setHeader("Content-Length", Buffer.byteLength(body));
    res.end(body);
  }));
}

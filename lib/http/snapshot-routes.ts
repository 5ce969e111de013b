/**
 * The snapshot browser's admin routes (PRestic's browser, for deployed profiles):
 *   GET  highball/profiles/:id/snapshots                  the repository's snapshots, newest first
 *   GET  highball/profiles/:id/snapshots/:snap/ls?path=   one directory level
 *   GET  highball/profiles/:id/snapshots/:snap/file?path= a file's bytes (&download=1: attachment,
 *                                                          &limit=N: the first N bytes); a folder: zip
 *   GET  highball/profiles/:id/diff?from=&to=&path=       what changed, with sizes, by growth
 *   POST highball/profiles/:id/restore                    {snapshot, paths, target, dryRun, overwrite}
 *   POST highball/profiles/:id/init                       restic init: {repository, created}; 409 when it exists
 *   POST highball/profiles/:id/unlock                     removes stale locks: {removed}
 *   GET  highball/profiles/:id/stats?perSnapshot=         size, snapshot count, files and size per snapshot
 * `:id` is a profile config node's id or a profile's name. Reads need highball.read, a restore
 * highball.write. Answers name only what the user asked for inside their own snapshot.
 */
import type { Express, Request, Response, RequestHandler } from "express";
import { Engine } from "../runs/engine";
import { highballHome, type HighballSettings } from "../home";
import { resolveProfile, type EffectiveProfile } from "../profile";
import { SnapshotBrowser, SnapshotError, SnapshotIndexes, type DownloadStream } from "../snapshots";
import { indexAfterBackups } from "../snapshots/index-after";
import { profileRestoreBounds } from "../snapshots/roots";
import { repositoryStats } from "../profile/repository";
import { initAsRun, unlockAsRun, restoreAsRun } from "../operations/actions";
import { fail, int, mountOnce, type AdminRED, type Guards } from "./shared";

let shared: SnapshotBrowser | null = null;

/** The one browser of this process: its cache is shared by every editor. */
export function snapshotBrowser(): SnapshotBrowser {
  shared ??= new SnapshotBrowser();
  return shared;
}

function profileOf(e: Engine, id: string): EffectiveProfile {
  const name = e.profileName(id);
  if (!name) throw new SnapshotError(404, "no deployed profile has that id or name");
  try {
    return resolveProfile(name, e.profileSet());
  } catch (err) {
    throw new SnapshotError(409, (err as Error).message);
  }
}

/**
 * Where a restore from profile `p` may write: the settings' restoreRoots, else the restore
 * folder and what the profile's deployed jobs (and the profile's own backup command) back up.
 */

function flag(v: unknown): boolean {
  return v === "1" || v === "true" || v === "yes";
}

/**
 * Content-Disposition with a plain ASCII fallback and the exact name in RFC 5987 form
 * (filename*=UTF-8''...), so any file name, quotes and line breaks included, stays one header.
 */
export function contentDisposition(kind: "attachment" | "inline", name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%;/<>]/g, "_").trim() || "download";
  let encoded: string;
  try {
    encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    encoded = encodeURIComponent(fallback);
  }
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

function handle(h: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res) => {
    h(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof SnapshotError && err.reason) res.status(err.status).json({ error: err.message, reason: err.reason });
      else if (err instanceof SnapshotError) fail(res, err.status, err.message);
      else fail(res, 500, "the request could not be completed");
    });
  };
}

/** Streams a dump to the client: `limit` bytes at most; a client that leaves stops restic. */
function pump(d: DownloadStream, res: Response, limit: number | null): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    let over = false;
    const finish = () => { over = true; resolve(); };
    res.on("close", () => {
      if (!res.writableFinished) d.stop();
      finish();
    });
    const send = (b: Buffer): boolean => {
      if (limit !== null && sent + b.length >= limit) {
        res.end(b.subarray(0, limit - sent));
        d.stop();
        return false;
      }
      sent += b.length;
      if (!res.write(b)) {
        d.stream.pause();
        res.once("drain", () => { if (!over) d.stream.resume(); });
      }
      return true;
    };
    if (!send(d.head)) return;
    if (d.ended) {
      res.end();
      return;
    }
    const onData = (b: Buffer) => {
      if (!send(b)) d.stream.removeListener("data", onData);
    };
    d.stream.on("data", onData);
    d.stream.once("end", () => {
      void d.done.then((exit) => {
        if (res.writableEnded) return;
        // A failure after the first byte can no longer change the status: cut the response,
        // so the client sees an incomplete download rather than a short file.
        if (exit.code === 0) res.end();
        else res.destroy();
      });
    });
    d.stream.resume();
  });
}

export function mountSnapshotRoutes(RED: AdminRED): void {
  mountOnce(RED, "snapshots", (app, guards) => routes(RED, app, guards));
}

/** The snapshot indexes of this runtime's storage folder, bounded by its setting. */
export function snapshotIndexes(settings: unknown): SnapshotIndexes {
  const s = settings as HighballSettings | undefined;
  return SnapshotIndexes.at(highballHome(s), { maxMB: s?.highball?.snapshotIndexMB });
}

/**
 * Restic backups of this runtime get their snapshot indexed once they have ended (once per
 * engine; the restic run node asks, as it is what makes backups).
 */
export function indexBackups(settings: unknown): void {
  indexAfterBackups(Engine.get(highballHome(settings as HighballSettings)), snapshotBrowser(), snapshotIndexes(settings));
}

function routes(RED: AdminRED, app: Express, { read, write }: Guards): void {
  const engine = () => Engine.get(highballHome(RED.settings as HighballSettings));
  const browser = snapshotBrowser();
  const profile = (req: Request) => profileOf(engine(), String(req.params.id));
  const indexes = () => snapshotIndexes(RED.settings);

  app.get("/highball/profiles/:id/snapshots", read, handle(async (req, res) => {
    res.json(await browser.snapshots(profile(req), indexes()));
  }));

  app.get("/highball/profiles/:id/snapshots/:snap/ls", read, handle(async (req, res) => {
    const p = profile(req);
    res.json(await browser.ls(p, req.params.snap, req.query.path ?? "/", {
      offset: int(req.query.offset, 0, 0, Number.MAX_SAFE_INTEGER),
      limit: int(req.query.limit, browser.maxListing, 1, browser.maxListing),
    }, indexes()));
  }));

  app.get("/highball/profiles/:id/snapshots/:snap/file", read, handle(async (req, res) => {
    const p = profile(req);
    if (req.query.path === undefined) throw new SnapshotError(400, "path must name a file or a folder in the snapshot");
    const limit = req.query.limit === undefined ? null : int(req.query.limit, 0, 0, Number.MAX_SAFE_INTEGER);
    const d = await browser.open(p, req.params.snap, req.query.path, indexes());
    try {
      await send(d, res, flag(req.query.download), limit);
    } catch (err) {
      d.stop(); // a paused restic would otherwise wait on its pipe for ever
      throw err;
    }
  }));

  function send(d: DownloadStream, res: Response, asked: boolean, limit: number | null): Promise<void> {
    const download = asked || d.kind === "archive";
    res.status(200);
    res.setHeader("Content-Type", d.contentType);
    // The bytes are the user's, never the editor's: no sniffing, no scripts, no caching.
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Content-Security-Policy", "default-src 'none'; sandbox");
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("Content-Disposition", contentDisposition(download ? "attachment" : "inline", d.fileName));
    if (d.size !== null) {
      res.setHeader("X-File-Size", String(d.size));
      res.setHeader("Content-Length", String(limit === null ? d.size : Math.min(limit, d.size)));
    }
    return pump(d, res, limit);
  }

  app.get("/highball/profiles/:id/diff", read, handle(async (req, res) => {
    const p = profile(req);
    if (req.query.from === undefined || req.query.to === undefined) throw new SnapshotError(400, "from and to must both name a snapshot");
    res.json(await browser.diff(p, req.query.from, req.query.to, {
      path: req.query.path,
      limit: int(req.query.limit, 500, 1, browser.maxChanges),
      index: indexes(),
    }));
  }));

  // init and unlock are runs of the profile's repository job (lib/operations), in its history.
  app.post("/highball/profiles/:id/init", write, handle(async (req, res) => {
    res.json(await initAsRun(engine(), profile(req)));
  }));

  app.post("/highball/profiles/:id/unlock", write, handle(async (req, res) => {
    res.json(await unlockAsRun(engine(), profile(req)));
  }));

  app.get("/highball/profiles/:id/stats", read, handle(async (req, res) => {
    res.json(await repositoryStats(profile(req), int(req.query.perSnapshot, 20, 0, 100)));
  }));

  app.post("/highball/profiles/:id/restore", write, handle(async (req, res) => {
    const p = profile(req);
    const body = req.body && typeof req.body === "object" && !Array.isArray(req.body) ? req.body as Record<string, unknown> : {};
    const bounds = profileRestoreBounds(engine(), RED.settings, p);
    const asked = { snapshot: body.snapshot, paths: body.paths, target: body.target, dryRun: body.dryRun, overwrite: body.overwrite, bounds };
    // A real restore is a run (history, log, progress): the browser checks it first, as a dry run.
    const real = asked.dryRun === undefined || asked.dryRun === false;
    res.json(real ? await restoreAsRun(engine(), browser, p, asked) : await browser.restore(p, asked));
  }));
}

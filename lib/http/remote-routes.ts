/**
 * Admin routes for reaching remote hosts from the editor: ssh pre-flight validation, accepting
 * a host key into the product's known_hosts, and rsync daemon share discovery.
 *
 * Validation and accepting a key connect out from the Node-RED host, so they need
 * highball.write; reading the last result and listing a daemon's public modules are reads.
 */
import { userInfo } from "node:os";
import type { Express, Request, Response, RequestHandler } from "express";
import { Engine } from "../runs/engine";
import { highballHome, type HighballSettings } from "../home";
import { HOST_PATTERN, USER_PATTERN } from "../job/schema";
import { fail, mountOnce, type AdminRED, type Guards } from "./shared";
import { validateSsh, fetchHostKey, TOOLS, type SshValidation, type Tool, type PathRole } from "../remote/validate";
import { acceptHostKey, bareHost, HostKeyChangedError, HostKeyError } from "../remote/knownhosts";
import { discoverRsyncd } from "../remote/rsyncd";
import { RemoteError } from "../remote/net";

const HOST_RE = new RegExp(HOST_PATTERN);
const USER_RE = new RegExp(USER_PATTERN);
const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;
/** Connections out at once, across all these routes: the editor should not become a scanner. */
const MAX_BUSY = 4;
const MAX_REMEMBERED = 200;
const TIMEOUT_MS = 15000;

class BadRequest extends Error {}

type Body = Record<string, unknown>;

function bodyOf(req: Request): Body {
  return req.body && typeof req.body === "object" && !Array.isArray(req.body) ? (req.body as Body) : {};
}

function hostOf(v: unknown): string {
  const h = typeof v === "string" ? v.trim() : "";
  if (!h || h.length > 255 || !HOST_RE.test(h)) {
    throw new BadRequest("host must be a host name or an IP address (letters, digits, dots and dashes, not starting with a dash)");
  }
  return bareHost(h);
}

function portOf(v: unknown, fallback: number): number {
  if (v === undefined || v === null || v === "" || v === 0 || v === "0") return fallback;
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d{1,5}$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new BadRequest("port must be a whole number from 1 to 65535");
  return n;
}

function userOf(v: unknown): string {
  if (v === undefined || v === null || v === "") return userInfo().username;
  if (typeof v !== "string" || !USER_RE.test(v)) {
    throw new BadRequest("user must be a user name (letters, digits, dots, dashes and underscores, not starting with a dash)");
  }
  return v;
}

function remotePath(v: unknown, what = "path"): string {
  if (typeof v !== "string" || !v.trim() || v.length > 4096 || /[\0\r\n]/.test(v)) {
    throw new BadRequest(`${what} must be a path of at most 4096 characters, without line breaks`);
  }
  return v;
}

function optional<T>(v: unknown, read: (v: unknown) => T): T | undefined {
  return v === undefined || v === null || v === "" ? undefined : read(v);
}

function keyFile(v: unknown): string {
  if (typeof v !== "string" || !v.startsWith("/") || v.length > 4096 || /[\0-\x1f]/.test(v)) {
    throw new BadRequest("identityFile must be an absolute path of a key file on the Node-RED host");
  }
  return v;
}

function needsOf(v: unknown, profile: string | undefined): Tool[] {
  // A job with a profile is a restic job: restic runs on its ssh source.
  if (v === undefined || v === null) return profile ? ["restic"] : ["rsync"];
  if (!Array.isArray(v) || v.length > TOOLS.length || !v.every((t) => (TOOLS as readonly unknown[]).includes(t))) {
    throw new BadRequest(`needs must be a list of ${TOOLS.map((t) => `"${t}"`).join(" and ")}`);
  }
  return v as Tool[];
}

function roleOf(v: unknown): PathRole {
  if (v === undefined || v === null || v === "") return "source";
  if (v !== "source" && v !== "destination") throw new BadRequest('role must be "source" or "destination"');
  return v;
}

function fingerprintOf(v: unknown, what: string): string {
  if (typeof v !== "string" || !FINGERPRINT_RE.test(v)) throw new BadRequest(`${what} must be a SHA256 fingerprint as shown by the validation (SHA256:...)`);
  return v;
}

const memoKey = (host: string, port: number, user: string, path: string) => JSON.stringify([host, port, user, path]);

function remoteStatus(err: RemoteError): number {
  return err.kind === "timeout" ? 504 : 502;
}

/** Mounts the remote routes once per admin app (mountAdminRoutes calls this too). */
export function mountRemoteRoutes(RED: AdminRED): void {
  mountOnce(RED, "remote", (app, guards) => routes(RED, app, guards));
}

function routes(RED: AdminRED, app: Express, { read, write }: Guards): void {
  const knownHostsFile = () => Engine.get(highballHome(RED.settings as HighballSettings)).knownHostsFile;

  // The last validation of each (host, port, user, path), so the editor can say "validated 5 min ago".
  const memo = new Map<string, SshValidation>();
  const remember = (r: SshValidation) => {
    const paths = r.paths.length ? r.paths.map((p) => p.path) : [""];
    for (const p of paths) {
      const k = memoKey(r.target.host, r.target.port, r.target.user, p);
      memo.delete(k);
      memo.set(k, r);
    }
    while (memo.size > MAX_REMEMBERED) memo.delete(memo.keys().next().value as string);
  };

  let busy = 0;
  const handle = (h: (req: Request, res: Response) => Promise<void>, connects = true): RequestHandler => (req, res) => {
    if (connects && busy >= MAX_BUSY) return fail(res, 429, "too many remote checks are running; try again in a moment");
    if (connects) busy++;
    h(req, res)
      .catch((err: unknown) => {
        if (res.headersSent) return;
        if (err instanceof BadRequest) return fail(res, 400, err.message);
        if (err instanceof RemoteError) return fail(res, remoteStatus(err), err.message);
        if (err instanceof HostKeyError) return fail(res, 409, err.message);
        fail(res, 500, "the request could not be completed");
      })
      .finally(() => { if (connects) busy--; });
  };

  app.post("/highball/validate/ssh", write, handle(async (req, res) => {
    const b = bodyOf(req);
    const host = hostOf(b.host);
    const port = portOf(b.port, 22);
    const user = userOf(b.user);
    const identityFile = optional(b.identityFile, keyFile);
    const path = optional(b.path, remotePath);
    let paths: string[] | undefined;
    if (b.paths !== undefined && b.paths !== null) {
      if (!Array.isArray(b.paths) || b.paths.length > 100) throw new BadRequest("paths must be a list of at most 100 paths");
      paths = b.paths.map((p) => remotePath(p, "each of paths"));
    }
    const profile = optional(b.profile, (v) => {
      if (typeof v !== "string" || v.length > 200) throw new BadRequest("profile must be a profile name");
      return v;
    });
    const needs = needsOf(b.needs, profile);
    const role = roleOf(b.role);
    const acceptKey = optional(b.acceptKey, (v) => fingerprintOf(v, "acceptKey"));
    const result = await validateSsh({
      host, port, user, identityFile, path, paths, role, needs, acceptKey,
      knownHostsFile: knownHostsFile(), timeoutMs: TIMEOUT_MS,
    });
    remember(result);
    res.json(result);
  }));

  app.get("/highball/validate/ssh", read, handle(async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const host = hostOf(q.host);
    const port = portOf(q.port, 22);
    const user = userOf(q.user);
    const path = optional(q.path, remotePath) ?? "";
    const r = memo.get(memoKey(host, port, user, path));
    if (!r) return fail(res, 404, "that target has not been validated since Node-RED started");
    res.json({ ...r, ageMs: Math.max(0, Date.now() - r.checkedAt) });
  }, false));

  app.post("/highball/hostkeys", write, handle(async (req, res) => {
    const b = bodyOf(req);
    const host = hostOf(b.host);
    const port = portOf(b.port, 22);
    const fingerprint = fingerprintOf(b.fingerprint, "fingerprint");
    const replace = b.replace === true;
    const file = knownHostsFile();
    // The key is fetched again: only a key that still has the fingerprint the user saw is trusted.
    const got = await fetchHostKey({ host, port, knownHostsFile: file, timeoutMs: TIMEOUT_MS });
    if (got.fingerprint !== fingerprint) {
      return fail(res, 409, `the server now presents the key ${got.fingerprint}, not ${fingerprint} that was shown; validate again before accepting`);
    }
    try {
      const r = await acceptHostKey(file, { host, port, key: got.line, fingerprint, replace });
      res.json({ ok: true, host, port, added: r.added, replaced: r.replaced, type: r.type, fingerprint: r.fingerprint, line: r.line });
    } catch (err) {
      if (err instanceof HostKeyChangedError) {
        res.status(409).json({ error: `${err.message}: send "replace": true to replace it`, changed: true, onFile: err.onFile });
        return;
      }
      throw err;
    }
  }));

  app.get("/highball/discover/rsyncd", read, handle(async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const host = hostOf(q.host);
    const port = portOf(q.port, 873);
    res.json(await discoverRsyncd({ host, port, timeoutMs: TIMEOUT_MS }));
  }));
}

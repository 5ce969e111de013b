/**
 * What a job occupies while it runs, and which jobs therefore must not run together.
 *
 * A job's resources are a list of keys. Each key is held EXCLUSIVELY by the job; some keys
 * also imply SHARED (intent) holds on their parents, so that a destination folder conflicts
 * with a folder inside it. Two jobs conflict when some key is held by both and at least one
 * of the two holds it exclusively (shared + shared is fine).
 *
 *   job:<key>                 the job itself (backup-job node id, else its name): a job never
 *                             runs twice at once; a second trigger waits for the first run.
 *   source:<host>             an ssh source host. Jobs reading from one host wait for each
 *                             other (Highball's rule). A local source is nothing by itself:
 *                             the Node-RED machine runs many jobs side by side.
 *   dest:<host>               an ssh or rsyncd destination host. Jobs writing to one host
 *                             wait for each other (Highball's rule; the default granularity
 *                             "host": a NAS's disks and link are shared by all its shares).
 *   dest:<host>:<path>        granularity "share": an ssh destination folder. Implies a
 *                             shared hold on dest:<host> and on every parent folder, so two
 *                             folders of one host run in parallel, a folder and a folder
 *                             inside it do not, and a "host"-granularity job on that host
 *                             waits for both.
 *   dest:<host>::<module>     granularity "share": an rsync daemon module. Implies a shared
 *                             hold on dest:<host>.
 *   path:<path>               a local destination folder. Implies shared holds on every
 *                             parent folder: /backup/a and /backup/b run in parallel,
 *                             /backup and /backup/a wait for each other.
 *   repo:<location>           a restic repository (from the resolved profile, given by the
 *                             caller). Restic jobs on one repository are serialized, whatever
 *                             the command; different repositories run in parallel.
 *   profile:<name>            a restic job's profile. Always held, so a run started without
 *                             the repository known still conflicts with one that knew it
 *                             through the same profile (one profile = one repository).
 *   tag:<text>                a user tag from `job.resources` or the gate's extra tags,
 *                             compared exactly. A tag that already starts with one of the
 *                             prefixes above is taken as that key ("dest:nas" says "this job
 *                             also writes to nas", e.g. through an NFS mount).
 *
 * Not conflicts: a source host and a destination host of the same name (Highball keeps them
 * apart: reading nas while another job writes to nas runs in parallel; tag both jobs to
 * serialize them); two names of one machine (nas and nas.lan: hosts are compared by name,
 * lower-cased, not resolved); ports and users (one host is one host). The repository
 * location of a restic job is not a destination host either.
 */
import { posix } from "node:path";
import type { Job } from "../job/schema";
import { jobKey } from "../job/validate";

export type Granularity = "host" | "share";

export interface ResourceOptions {
  /** The restic repository (or repositories, e.g. copy's source and target), if known. */
  repository?: string | string[] | null;
  /** How finely ssh and rsyncd destinations are told apart (default "host"). */
  destinations?: Granularity;
  /** Extra tags (a gate's own). */
  tags?: string[];
}

/** One key as held: exclusively, or shared (an intent on a parent). */
export interface Claim { key: string; shared: boolean }

const PREFIXES = ["job", "source", "dest", "path", "repo", "profile", "tag"] as const;
const KNOWN = new RegExp(`^(${PREFIXES.join("|")}):`);

/** A host as compared: lower case, no trailing dot; an IPv6 address always in brackets. */
export function hostId(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  return h.includes(":") ? `[${h}]` : h;
}

/** An absolute path as compared: normalized, without a trailing slash. */
export function pathId(p: string): string {
  let n = posix.normalize(p.trim());
  if (!n.startsWith("/")) n = `/${n}`;
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}

/** A repository location as compared, with any password in it removed (keys are shown to people). */
export function repositoryId(repo: string): string {
  let r = repo.trim().replace(/(\/\/[^/@:]*):[^/@]*@/, "$1@");
  if (r.startsWith("local:")) r = r.slice("local:".length);
  return r.startsWith("/") ? pathId(r) : r.replace(/\/+$/, "");
}

/** A key, normalized where its kind has a normal form. */
export function normalizeKey(key: string): string {
  const k = key.trim();
  if (!KNOWN.test(k)) return `tag:${k}`;
  if (k.startsWith("path:")) return `path:${pathId(k.slice(5))}`;
  if (k.startsWith("source:")) return `source:${hostId(k.slice(7))}`;
  if (k.startsWith("repo:")) return `repo:${repositoryId(k.slice(5))}`;
  if (k.startsWith("dest:")) {
    const d = splitDest(k);
    if (!d) return k;
    if (d.module !== undefined) return `dest:${d.host}::${d.module}`;
    if (d.path !== undefined) return `dest:${d.host}:${pathId(d.path)}`;
    return `dest:${d.host}`;
  }
  return k;
}

function splitDest(key: string): { host: string; path?: string; module?: string } | null {
  const rest = key.slice(5);
  let host: string;
  let tail: string;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) return null;
    host = rest.slice(0, end + 1);
    tail = rest.slice(end + 1);
  } else {
    const colon = rest.indexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    tail = colon < 0 ? "" : rest.slice(colon);
  }
  if (!host) return null;
  host = hostId(host);
  if (tail.startsWith("::")) return { host, module: tail.slice(2) };
  if (tail.startsWith(":") && tail.length > 1) return { host, path: tail.slice(1) };
  return { host };
}

function parents(path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p !== "/") {
    p = posix.dirname(p);
    out.push(p);
  }
  return out;
}

/**
 * The job's resources, as exclusive keys (what the queue shows). The implied shared holds
 * come from `claimsOf`.
 */
export function jobResources(job: Job, options: ResourceOptions = {}): string[] {
  const keys: string[] = [`job:${jobKey(job)}`];
  const src = job.source;
  if (src?.type === "ssh" && src.host) keys.push(`source:${hostId(src.host)}`);
  if (job.engine === "restic") {
    const repos = options.repository == null ? [] : Array.isArray(options.repository) ? options.repository : [options.repository];
    for (const r of repos) if (r && r.trim()) keys.push(`repo:${repositoryId(r)}`);
    if (job.profile) keys.push(`profile:${job.profile}`);
  } else {
    const dst = job.destination ?? {};
    const type = dst.type ?? "local";
    const share = options.destinations === "share";
    if (type === "local") {
      if (dst.path) keys.push(`path:${pathId(dst.path)}`);
    } else if (dst.host) {
      const host = hostId(dst.host);
      if (!share) keys.push(`dest:${host}`);
      else if (type === "rsyncd" && dst.module) keys.push(`dest:${host}::${dst.module}`);
      else if (type === "ssh" && dst.path && dst.path.startsWith("/")) keys.push(`dest:${host}:${pathId(dst.path)}`);
      else keys.push(`dest:${host}`);
    }
  }
  for (const t of [...(job.resources ?? []), ...(options.tags ?? [])]) {
    if (typeof t === "string" && t.trim()) keys.push(normalizeKey(t));
  }
  return [...new Set(keys)];
}

/** Every key a resource list holds, with the shared holds its keys imply; exclusive wins. */
export function claimsOf(resources: readonly string[]): Map<string, boolean> {
  const claims = new Map<string, boolean>();
  const hold = (key: string, shared: boolean) => {
    if (claims.get(key) === false) return;
    claims.set(key, shared);
  };
  for (const raw of resources) {
    const key = normalizeKey(raw);
    hold(key, false);
    if (key.startsWith("path:")) {
      for (const p of parents(key.slice(5))) hold(`path:${p}`, true);
    } else if (key.startsWith("dest:")) {
      const d = splitDest(key);
      if (!d || (d.path === undefined && d.module === undefined)) continue;
      hold(`dest:${d.host}`, true);
      if (d.path !== undefined) for (const p of parents(pathId(d.path))) hold(`dest:${d.host}:${p}`, true);
    }
  }
  return claims;
}

/** The keys on which two resource lists conflict (empty: they may run together). */
export function conflictsOn(a: readonly string[], b: readonly string[]): string[] {
  const ca = claimsOf(a);
  const cb = claimsOf(b);
  const out: string[] = [];
  for (const [key, sharedA] of ca) {
    const sharedB = cb.get(key);
    if (sharedB !== undefined && !(sharedA && sharedB)) out.push(key);
  }
  return out;
}

export function conflicts(a: readonly string[], b: readonly string[]): boolean {
  return conflictsOn(a, b).length > 0;
}

/** Tags typed by a person: one per line, or separated by commas. */
export function parseTags(text: string | undefined): string[] {
  return (text ?? "").split(/[\n,]/).map((t) => t.trim()).filter(Boolean);
}

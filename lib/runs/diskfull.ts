import { readFileSync, statfsSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Job } from "../job/schema";

/** How the tools and the OS say a disk is full (rsync, restic, ssh, Node's own errors). */
export const DISK_FULL = /no space left on device|\bENOSPC\b|disk quota exceeded|\bEDQUOT\b/i;

/** Free space Highball's own folder needs to start a run: its log and its history record. */
export const MIN_FREE_BYTES = 256 * 1024;

/** The nearest existing folder of `path`, resolved (symlinks and all). */
function existing(path: string): string {
  let p = resolve(path);
  for (;;) {
    try { return realpathSync(p); } catch { /* not there yet */ }
    const up = dirname(p);
    if (up === p) return p;
    p = up;
  }
}

/** The mount point of the disk that holds `path` (from /proc/self/mountinfo; "/" when unknown). */
export function mountOf(path: string): string {
  const p = existing(path);
  let best = "/";
  try {
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      // The 5th field, with spaces and the like written as octal escapes.
      const m = line.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_s, o: string) => String.fromCharCode(parseInt(o, 8)));
      if (m && (p === m || p.startsWith(m.endsWith("/") ? m : `${m}/`)) && m.length > best.length) best = m;
    }
  } catch { /* not Linux: the root stands for every disk */ }
  return best;
}

/** Bytes a non-root writer may still use on the disk of `path`; null when it cannot be asked. */
export function freeBytes(path: string): number | null {
  try {
    const s = statfsSync(existing(path));
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

function size(n: number): string {
  const u = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

/** The sentence for Highball's own folder on a full disk. */
export function productFullSentence(home: string, doing: string): string {
  const free = freeBytes(home);
  return `the disk of Highball's own folder ${home} (mounted at ${mountOf(home)}) is full${free !== null ? ` (${size(free)} free)` : ""}: ${doing}; free space there and run again`;
}

/** Where the job writes, for a sentence: a local folder, or a host. */
function destinationOf(job: Job): { local?: string; host?: string } {
  const d = job.destination;
  if (job.engine === "rsync" && d) {
    if ((d.type ?? "local") === "local" && d.path) return { local: d.path };
    if (d.host) return { host: d.host };
  }
  return {};
}

/** A path named in a tool's disk-full line ("write failed on "/x/y": No space ...", "write /x/y: no space ..."). */
function pathIn(line: string): string | null {
  const quoted = /"(\/[^"]+)"/.exec(line);
  if (quoted) return quoted[1]!;
  const bare = /(?:^|\s)(\/[^\s:"]+)/.exec(line);
  return bare ? bare[1]! : null;
}

function under(path: string, root: string): boolean {
  const p = existing(path), r = existing(root);
  return p === r || p.startsWith(r.endsWith("/") ? r : `${r}/`);
}

/**
 * The plain sentence for a run that hit a full disk, naming which disk (the destination or
 * Highball's own folder) from the tool's own line. Null when nothing says a disk was full.
 */
export function diskFullError(job: Job, home: string, line: string | null): string | null {
  if (!line || !DISK_FULL.test(line)) return null;
  const named = pathIn(line);
  const dest = destinationOf(job);
  if (named && !dest.host && under(named, home)) return productFullSentence(home, "the run could not write its files there");
  if (dest.host) return `the destination disk on ${dest.host} is full (${line.trim()}); free space there and run again`;
  const local = dest.local ?? named;
  if (local) {
    const free = freeBytes(local);
    return `the destination disk is full: ${local} is on the disk mounted at ${mountOf(local)}${free !== null ? ` (${size(free)} free after the run)` : ""}; free space there and run again (the tool said: ${line.trim()})`;
  }
  return `the destination disk is full (${line.trim()}); free space there and run again`;
}

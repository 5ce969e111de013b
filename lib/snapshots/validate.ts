/**
 * What a request may hand to restic: snapshot ids and snapshot paths are checked here, before
 * they become words of restic's argument array, so nothing that looks like an option, a
 * traversal or a NUL ever reaches it.
 */

/** A refusal with the HTTP status it maps to; its message is one sentence for a person. */
export class SnapshotError extends Error {
  /** `reason`: a word the editor acts on ("noRepository": offer to initialise it). */
  constructor(readonly status: number, message: string, readonly reason?: string) {
    super(message);
    this.name = "SnapshotError";
  }
}

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/i;
const MAX_PATH = 4096;

/** A snapshot id or a unique prefix of one: 8 to 64 hex digits, returned in lower case. */
export function snapshotId(v: unknown, what = "snapshot"): string {
  if (typeof v !== "string" || !SNAPSHOT_ID.test(v)) throw new SnapshotError(400, `${what} must be a snapshot id: 8 to 64 hexadecimal digits`);
  return v.toLowerCase();
}

/**
 * An absolute path inside a snapshot, normalised ("//" and "." collapse, no trailing slash).
 * ".." is refused rather than resolved: a request naming it is either confused or probing.
 */
export function snapshotPath(v: unknown, what = "path"): string {
  if (typeof v !== "string" || v === "") throw new SnapshotError(400, `${what} must be an absolute path such as /home/me`);
  if (v.length > MAX_PATH) throw new SnapshotError(400, `${what} is longer than ${MAX_PATH} characters`);
  if (v.includes("\0")) throw new SnapshotError(400, `${what} contains a NUL character`);
  if (!v.startsWith("/")) throw new SnapshotError(400, `${what} must be absolute (start with /)`);
  const parts: string[] = [];
  for (const p of v.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") throw new SnapshotError(400, `${what} must not contain ".."`);
    parts.push(p);
  }
  return `/${parts.join("/")}`;
}

/** A folder on this host to restore into: the same rules as a snapshot path. */
export function targetPath(v: unknown): string {
  return snapshotPath(v, "target");
}

export function parentOf(path: string): string {
  if (path === "/") return "/";
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export function baseName(path: string): string {
  return path === "/" ? "" : path.slice(path.lastIndexOf("/") + 1);
}

/** Whether `path` is `dir` or lies beneath it. */
export function within(dir: string, path: string): boolean {
  return dir === "/" || path === dir || path.startsWith(`${dir}/`);
}

/**
 * A path as a restic include pattern that matches only itself: restic reads include/exclude
 * patterns as globs, so a file named "st*ar" must have its star escaped.
 */
export function literalPattern(path: string): string {
  return path.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

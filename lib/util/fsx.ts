import { promises as fsp, mkdirSync, renameSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

// Storage is owner-only: run history and logs can name hosts, paths and errors.
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export async function ensureDir(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
}

function tempName(file: string): string {
  return join(dirname(file), `.${randomBytes(6).toString("hex")}.tmp`);
}

/** Write a whole file atomically: a reader sees the old or the new content, never half. */
export async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
  await ensureDir(dirname(file));
  const tmp = tempName(file);
  try {
    await fsp.writeFile(tmp, data, { mode: FILE_MODE });
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

export function writeAtomicSync(file: string, data: string | Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: DIR_MODE });
  const tmp = tempName(file);
  try {
    writeFileSync(tmp, data, { mode: FILE_MODE });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, JSON.stringify(value, null, 1) + "\n");
}

/** Read JSON, or `fallback` when the file does not exist. A corrupt file is an error, not a reset. */
export async function readJson<T>(file: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${file} is not valid JSON; it was left as it is`);
  }
}

export function readJsonSync<T>(file: string, fallback: T): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${file} is not valid JSON; it was left as it is`);
  }
}

/** A state file that did not parse and was moved aside, for the log and the Backups tab. */
export interface Quarantine { file: string; movedTo: string; at: number; reason: string }

const quarantined: Quarantine[] = [];
const listeners = new Set<(q: Quarantine) => void>();

/** Tells `fn` of every file moved aside from now on (the runtime logs each once). */
export function onQuarantine(fn: (q: Quarantine) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Files moved aside under `dir` since this process started, oldest first. */
export function quarantinedUnder(dir: string): Quarantine[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return quarantined.filter((q) => q.file.startsWith(prefix));
}

function stamp(at: number): string {
  return new Date(at).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * Moves a file that does not parse to `<file>.corrupt-<time>` (a human may want it back), and
 * tells once. A file that cannot even be moved is left, and still reported.
 */
export function quarantineSync(file: string, reason: string): Quarantine {
  const at = Date.now();
  let movedTo = `${file}.corrupt-${stamp(at)}`;
  try {
    renameSync(file, movedTo);
  } catch (err) {
    // Another reader moved it a moment ago and has told already.
    const earlier = quarantined.findLast((q) => q.file === file);
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && earlier) return earlier;
    movedTo = file;
  }
  const q = { file, movedTo, at, reason };
  quarantined.push(q);
  if (quarantined.length > 100) quarantined.shift();
  for (const fn of listeners) {
    try { fn(q); } catch { /* a listener must not break the reader */ }
  }
  return q;
}

function parseOr(text: string, valid: (v: unknown) => boolean): { ok: true; value: unknown } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: "it is not valid JSON" };
  }
  return valid(value) ? { ok: true, value } : { ok: false, reason: "its content is not what this file holds" };
}

/**
 * Read a state file, or `fallback` when it does not exist. A file that does not parse (or
 * that `valid` refuses) is moved aside and reported, and `fallback` is answered: one broken
 * file must not take the API or the next run's record down with it.
 */
export async function readJsonOrQuarantine<T>(file: string, fallback: T, valid: (v: unknown) => boolean = () => true): Promise<T> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw err;
  }
  const r = parseOr(text, valid);
  if (r.ok) return r.value as T;
  quarantineSync(file, r.reason);
  return fallback;
}

export function readJsonOrQuarantineSync<T>(file: string, fallback: T, valid: (v: unknown) => boolean = () => true): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw err;
  }
  const r = parseOr(text, valid);
  if (r.ok) return r.value as T;
  quarantineSync(file, r.reason);
  return fallback;
}

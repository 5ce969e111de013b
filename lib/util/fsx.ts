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

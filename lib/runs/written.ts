import { readFileSync } from "node:fs";
import type { Progress } from "../engines/types";

/**
 * Bytes a process has written so far (Linux /proc/<pid>/io `wchar`: every write, to files and
 * pipes), or null where it cannot be read (another OS, the process gone).
 */
export function writtenBytes(pid: number): number | null {
  try {
    const m = /^wchar:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Progress of a tool that writes `total` bytes and says nothing while it does (restic restore
 * before 0.16): what it has written against what it will write. Its cache and its few output
 * lines count too, so the share is held below 100 % until the run ends.
 */
export function writeProgress(total: number, files: number | null): (pid: number) => Progress | null {
  let last: { at: number; bytes: number } | null = null;
  let rate: number | null = null;
  return (pid) => {
    const bytes = writtenBytes(pid);
    if (bytes === null) return null;
    const at = Date.now();
    if (last && at > last.at) rate = Math.max(0, ((bytes - last.bytes) * 1000) / (at - last.at));
    last = { at, bytes };
    const done = Math.min(bytes, total);
    const percent = total > 0 ? Math.min(99, (done / total) * 100) : null;
    const etaSeconds = rate && total > done ? Math.round((total - done) / rate) : null;
    return { percent, bytesDone: done, bytesTotal: total, filesDone: null, filesTotal: files, rate, etaSeconds };
  };
}

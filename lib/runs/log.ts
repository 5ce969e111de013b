import { createWriteStream, openSync, writeSync, type WriteStream } from "node:fs";
import { FILE_MODE } from "../util/fsx";

/** Local time as PRestic names its logs: YYYY.MM.DD_HH.MM */
export function logStamp(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}.${p(d.getMonth() + 1)}.${p(d.getDate())}_${p(d.getHours())}.${p(d.getMinutes())}`;
}

/** `YYYY.MM.DD_HH.MM-task.<runId>.log`: PRestic's name, plus the run id so two runs never share a file. */
export function logName(t: number, task: string, runId: string): string {
  const safe = task.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 60) || "job";
  return `${logStamp(t)}-${safe}.${runId}.log`;
}

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 100;

/**
 * A run's log: lines go to disk as they come (never held whole), secrets are masked, and the
 * producer is told to wait when the disk falls behind. Lines are gathered into one write per
 * 64 KiB or 100 ms: a write per line cost more CPU than rsync itself on a large copy.
 */
export class RunLog {
  private readonly out: WriteStream;
  private drained: Promise<void> | null = null;
  private readonly secrets: string[];
  private parts: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private release: (() => void) | null = null;
  /** Why the log could not be written (a full disk), if it could not. */
  failure: NodeJS.ErrnoException | null = null;

  /** The file, opened at once; null when that failed (the stream then reports nothing: a run never stops for its log). */
  private readonly fd: number | null;

  constructor(readonly file: string, secrets: string[] = []) {
    let fd: number | null = null;
    try { fd = openSync(file, "a", FILE_MODE); } catch { /* the stream below tries again and swallows its error */ }
    this.fd = fd;
    this.out = fd === null ? createWriteStream(file, { flags: "a", mode: FILE_MODE }) : createWriteStream(file, { fd, autoClose: true });
    // A full disk must not crash Node-RED nor hold the run: the error is kept for the run's
    // record, and whoever waits for the file to catch up is let go (no "drain" follows an error).
    this.out.on("error", (err: NodeJS.ErrnoException) => {
      this.failure ??= err;
      this.release?.();
    });
    // Longest first, so a secret that contains another is masked whole.
    this.secrets = secrets.filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join("***");
    return out;
  }

  write(line: string): void {
    const text = this.mask(line) + "\n";
    this.parts.push(text);
    this.bytes += text.length;
    if (this.bytes >= FLUSH_BYTES) this.push();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.push(), FLUSH_MS);
      this.timer.unref();
    }
  }

  private push(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (!this.parts.length) return;
    const chunk = this.parts.join("");
    this.parts = [];
    this.bytes = 0;
    if (this.failure) return;
    if (!this.out.write(chunk) && !this.drained) {
      this.drained = new Promise((resolve) => {
        const go = () => { this.out.off("drain", go); this.release = null; this.drained = null; resolve(); };
        this.release = go;
        this.out.once("drain", go);
      });
    }
  }

  /** Everything written so far is on disk (before another writer appends to the same file). */
  flush(): Promise<void> {
    this.push();
    if (this.failure || this.out.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.out.once("error", () => resolve());
      if (!this.out.writableNeedDrain) this.out.write("", () => resolve());
      else this.out.once("drain", () => this.out.write("", () => resolve()));
    });
  }

  /**
   * Writes what is gathered straight to `fd` (the same file, opened for appending) when
   * nothing is in flight on the stream, so a tool can start writing after it without waiting
   * for a round trip through the thread pool. False when the stream is busy: use flush().
   */
  flushInto(fd: number): boolean {
    if (this.out.writableLength > 0) return false;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const chunk = this.parts.join("");
    this.parts = [];
    this.bytes = 0;
    try {
      if (chunk) writeSync(fd, chunk);
    } catch (err) {
      this.failure ??= err as NodeJS.ErrnoException;
    }
    return true;
  }

  /** A promise while the file is behind, for the process to pause its output. */
  wait(): Promise<void> | null {
    return this.drained;
  }

  /**
   * The end of the run waits on this. With nothing in flight, the last lines go out with one
   * synchronous write and the stream closes in the background, instead of two thread-pool trips.
   */
  close(): Promise<void> {
    if (this.fd !== null && this.out.writableLength === 0 && !this.out.destroyed) {
      if (this.timer) { clearTimeout(this.timer); this.timer = null; }
      const chunk = this.parts.join("");
      this.parts = [];
      this.bytes = 0;
      try {
        if (chunk) writeSync(this.fd, chunk);
      } catch (err) {
        // A full disk must not stop the run's end; the record says it.
        this.failure ??= err as NodeJS.ErrnoException;
      }
      this.out.destroy();
      return Promise.resolve();
    }
    this.push();
    if (this.failure || this.out.destroyed) {
      this.out.destroy();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.out.once("error", () => resolve());
      this.out.end(resolve);
    });
  }
}

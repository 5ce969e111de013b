import { createWriteStream, type WriteStream } from "node:fs";
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

/**
 * A run's log: lines go to disk as they come (never held whole), secrets are masked, and the
 * producer is told to wait when the disk falls behind.
 */
export class RunLog {
  private readonly out: WriteStream;
  private drained: Promise<void> | null = null;
  private readonly secrets: string[];

  constructor(readonly file: string, secrets: string[] = []) {
    this.out = createWriteStream(file, { flags: "a", mode: FILE_MODE });
    this.out.on("error", () => undefined); // a full disk must not crash Node-RED; the run still ends
    // Longest first, so a secret that contains another is masked whole.
    this.secrets = secrets.filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join("***");
    return out;
  }

  write(line: string): void {
    if (!this.out.write(this.mask(line) + "\n") && !this.drained) {
      this.drained = new Promise((resolve) => this.out.once("drain", () => { this.drained = null; resolve(); }));
    }
  }

  /** A promise while the file is behind, for the process to pause its output. */
  wait(): Promise<void> | null {
    return this.drained;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}

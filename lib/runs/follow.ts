import { promises as fsp, openSync, readSync, closeSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { LineSplitter } from "./process";

const CHUNK = 1024 * 1024;

/**
 * Reads what a tool writes straight into its log file, from where its output began, so the
 * parser sees every line without the output passing through a pipe into Node-RED. Lines the
 * run machinery wrote itself ("# " notes, "! " stderr) are not the tool's and are skipped.
 */
export class LogFollower {
  private pos: number;
  private reading: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly splitter: LineSplitter;
  private readonly decoder = new StringDecoder("utf8");
  /** One read buffer for the run, not zero-filled: a verbose run reads every 250 ms. */
  private buf: Buffer | null = null;

  constructor(private readonly file: string, offset: number, sink: (line: string, transient: boolean) => void) {
    this.pos = offset;
    this.splitter = new LineSplitter("stdout", (_s, line, transient) => {
      if (line.startsWith("# ") || line.startsWith("! ")) return;
      sink(line, transient);
    });
  }

  start(everyMs: number): void {
    // A log removed under a running tool must not take Node-RED down: the run still ends.
    this.timer = setInterval(() => this.read().catch(() => undefined), everyMs);
  }

  private read(): Promise<void> {
    this.reading ??= (async () => {
      const fh = await fsp.open(this.file, "r");
      try {
        const buf = (this.buf ??= Buffer.allocUnsafe(CHUNK));
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, CHUNK, this.pos);
          if (!bytesRead) break;
          this.pos += bytesRead;
          // The decoder keeps a UTF-8 character cut at the chunk's end for the next read.
          this.splitter.push(this.decoder.write(buf.subarray(0, bytesRead)));
          if (bytesRead < CHUNK) break;
        }
      } finally {
        await fh.close();
        this.reading = null;
      }
    })();
    return this.reading;
  }

  /** The tail the tool wrote since the last poll, at once: it is small, and the run waits on it. */
  private readRestSync(): void {
    let fd: number;
    try { fd = openSync(this.file, "r"); } catch { return; } // removed under the run
    try {
      const buf = (this.buf ??= Buffer.allocUnsafe(CHUNK));
      for (let n; (n = readSync(fd, buf, 0, CHUNK, this.pos)) > 0;) {
        this.pos += n;
        this.splitter.push(this.decoder.write(buf.subarray(0, n)));
      }
    } catch {
      // A read error leaves the lines read so far; the run's outcome comes from the exit code.
    } finally {
      closeSync(fd);
    }
  }

  /** Reads the rest once the tool has ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.reading) await this.reading.catch(() => undefined);
    this.readRestSync();
    this.splitter.push(this.decoder.end());
    this.splitter.end();
  }
}

import { promises as fsp } from "node:fs";
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

  constructor(private readonly file: string, offset: number, sink: (line: string, transient: boolean) => void) {
    this.pos = offset;
    this.splitter = new LineSplitter("stdout", (_s, line, transient) => {
      if (line.startsWith("# ") || line.startsWith("! ")) return;
      sink(line, transient);
    });
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => void this.read(), everyMs);
  }

  private read(): Promise<void> {
    this.reading ??= (async () => {
      const fh = await fsp.open(this.file, "r");
      try {
        const buf = Buffer.alloc(CHUNK);
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

  /** Reads the rest once the tool has ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.reading) await this.reading;
    await this.read();
    this.splitter.push(this.decoder.end());
    this.splitter.end();
  }
}

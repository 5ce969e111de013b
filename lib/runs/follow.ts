import { openSync, readSync, fstatSync, closeSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { LineSplitter } from "./process";

/** What a poll reads at most: the newest progress line is among the last few hundred bytes. */
const POLL_WINDOW = 16 * 1024;
/** What the last read takes at most: rsync's --stats summary (~1.5 KiB) is the output's end. */
const FINAL_WINDOW = 64 * 1024;

/**
 * Reads the newest part of what a tool writes straight into its log file. The parser needs
 * only the latest progress line while the tool runs and the summary at its end; every line in
 * between is the log's, not Node-RED's, so Node-RED's work per poll stays the same whether the
 * tool lists a hundred files or a million. Lines the run machinery wrote itself ("# " notes,
 * "! " stderr) are not the tool's and are skipped.
 */
export class LogFollower {
  private pos: number;
  private fd: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private splitter: LineSplitter;
  private decoder = new StringDecoder("utf8");
  /** One read buffer for the run, not zero-filled. */
  private readonly buf = Buffer.allocUnsafe(FINAL_WINDOW);

  constructor(private readonly file: string, offset: number, private readonly sink: (line: string, transient: boolean) => void) {
    this.pos = offset;
    this.splitter = this.newSplitter();
  }

  private newSplitter(): LineSplitter {
    return new LineSplitter("stdout", (_s, line, transient) => {
      if (line.startsWith("# ") || line.startsWith("! ")) return;
      this.sink(line, transient);
    });
  }

  start(everyMs: number): void {
    try {
      this.fd = openSync(this.file, "r");
    } catch {
      return; // no log to follow: the run's outcome still comes from the exit code
    }
    this.timer = setInterval(() => this.read(POLL_WINDOW), everyMs);
  }

  /**
   * Synchronous on purpose: at most `window` bytes of a file the tool has just written (page
   * cache), where a trip through the thread pool would cost more than the read.
   */
  private read(window: number): void {
    if (this.fd === null) return;
    try {
      const size = fstatSync(this.fd).size;
      if (size <= this.pos) return;
      let from = this.pos;
      let skipPartial = false;
      if (size - from > window) {
        // Jump to the newest bytes; the line cut at the jump is not a line.
        from = size - window;
        skipPartial = true;
        this.splitter = this.newSplitter();
        this.decoder = new StringDecoder("utf8");
      }
      const n = readSync(this.fd, this.buf, 0, size - from, from);
      this.pos = from + n;
      let text = this.decoder.write(this.buf.subarray(0, n));
      if (skipPartial) {
        const lf = text.indexOf("\n");
        const cr = text.indexOf("\r");
        const cut = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
        text = cut < 0 ? "" : text.slice(cut + 1);
      }
      this.splitter.push(text);
    } catch {
      // A read error leaves the lines read so far; a removed log keeps its inode while open.
    }
  }

  /** Reads the end of the output once the tool has ended, and lets the file go. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.read(FINAL_WINDOW);
    if (this.fd !== null) {
      try { closeSync(this.fd); } catch { /* already closed */ }
      this.fd = null;
    }
    this.splitter.push(this.decoder.end());
    this.splitter.end();
  }
}

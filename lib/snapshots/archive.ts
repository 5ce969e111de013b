/**
 * A file's bytes or a folder as an archive (`restic dump`), streamed to the caller: the first
 * bytes are read to tell text from binary and to turn a failure before any byte into a status.
 */
import type { Readable } from "node:stream";
import type { EffectiveProfile } from "../profile/resolve";
import { atLeast } from "../engines/restic";
import { startRestic, type Exit, type ResticProcess } from "./runner";
import { resticFailure } from "./errors";
import type { SnapshotIndexes } from "./index-store";
import { SnapshotError, snapshotId, baseName } from "./validate";
import type { ResticAccess } from "./access";
import type { Entry, Listings } from "./listing";

export interface DownloadStream {
  kind: "file" | "archive";
  format: "zip" | "tar" | null;
  entry: Entry;
  contentType: string;
  fileName: string;
  /** Known for a file, unknown for an archive. */
  size: number | null;
  /** The first bytes, already read from `stream` (for sniffing text). */
  head: Buffer;
  /** The rest of the bytes, paused. */
  stream: Readable;
  /** restic has already sent everything (`head` is the whole content). */
  ended: boolean;
  done: Promise<Exit>;
  /** Ends restic (the client went away); also gives back the process slot. */
  stop(): void;
}

const SNIFF = 8192;

/** Whether the first bytes of a file look like text: UTF-8 without NULs or many control bytes. */
export function looksLikeText(head: Buffer, complete: boolean): boolean {
  if (head.length === 0) return true;
  let control = 0;
  for (const b of head) {
    if (b === 0) return false;
    if (b < 32 && b !== 9 && b !== 10 && b !== 13 && b !== 12 && b !== 27 && b !== 8) control++;
  }
  if (control > head.length / 20) return false;
  // A sample cut inside a multi-byte character is still text: try without its last 1–3 bytes.
  for (let cut = 0; cut <= (complete ? 0 : 3) && cut < head.length; cut++) {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(0, head.length - cut));
      return true;
    } catch { /* try shorter */ }
  }
  return false;
}

export class Archives {
  constructor(private readonly r: ResticAccess, private readonly listings: Listings) {}

  /**
   * A file's bytes (`restic dump`), or a folder as a zip (restic >= 0.12; a tar before). Resolves
   * once restic has sent its first bytes, or has ended: a failure before any byte is thrown as
   * a SnapshotError, so the caller can still answer with a status.
   */
  async open(p: EffectiveProfile, snapIn: unknown, pathIn: unknown, idx?: SnapshotIndexes): Promise<DownloadStream> {
    const entry = await this.listings.stat(p, snapIn, pathIn, idx);
    const snap = snapshotId(snapIn);
    if (entry.type !== "file" && entry.type !== "dir") throw new SnapshotError(400, `${entry.path} is a ${entry.type}; only files and folders can be downloaded`);
    let format: "zip" | "tar" | null = null;
    const args: string[] = [];
    if (entry.type === "dir") {
      format = atLeast(await this.r.version(p), 0, 12) ? "zip" : "tar";
      args.push(`--archive=${format}`);
    }
    const plan = this.r.plan(p, "dump", [...args, "--", snap, entry.path]);
    const release = await this.r.slots.acquire();
    let proc: ResticProcess;
    try {
      proc = startRestic(plan);
    } catch (err) {
      release();
      throw err;
    }
    void proc.done.then(release, release);
    const ctx = { profile: p.name, action: `read ${entry.path}`, snapshot: snap };
    const head = await readHead(proc.stdout, SNIFF);
    if (head.ended) {
      // Everything restic had to say is here: a failure can still be answered with a status.
      const exit = await proc.done;
      if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, ctx);
    }
    const complete = head.ended || (entry.size !== null && head.bytes.length >= entry.size);
    const name = entry.path === "/" ? `snapshot-${(entry.snapshot || snap).slice(0, 8)}` : baseName(entry.path);
    return {
      kind: entry.type === "dir" ? "archive" : "file",
      format,
      entry,
      contentType: format === "zip" ? "application/zip" : format === "tar" ? "application/x-tar"
        : looksLikeText(head.bytes, complete) ? "text/plain; charset=utf-8" : "application/octet-stream",
      fileName: format ? `${name}.${format}` : name,
      size: entry.type === "file" ? entry.size : null,
      head: head.bytes,
      stream: proc.stdout,
      ended: head.ended,
      done: proc.done,
      stop: () => proc.kill(),
    };
  }
}

/** The first `n` bytes of a stream (fewer if it ends), leaving the stream paused with the rest. */
function readHead(stream: Readable, n: number): Promise<{ bytes: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (ended: boolean) => {
      stream.removeListener("data", onData);
      stream.removeListener("end", onEnd);
      stream.removeListener("error", onEnd);
      if (!ended) stream.pause();
      const all = Buffer.concat(chunks);
      if (all.length > n) {
        stream.unshift(all.subarray(n));
        resolve({ bytes: all.subarray(0, n), ended: false });
      } else {
        resolve({ bytes: all, ended });
      }
    };
    const onData = (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      if (size >= n) done(false);
    };
    const onEnd = () => done(true);
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onEnd);
  });
}

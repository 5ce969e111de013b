import { promises as fsp, createReadStream, openSync, fstatSync, readSync, closeSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";

/** A byte range of a log: what the viewer pages through, however large the file. */
export async function readRange(file: string, offset: number, length: number): Promise<{ text: string; offset: number; size: number }> {
  const fh = await fsp.open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const start = Math.max(0, Math.min(offset, size));
    const len = Math.max(0, Math.min(length, size - start, 16 * 1024 * 1024));
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, start);
    return { text: buf.toString("utf8"), offset: start, size };
  } finally {
    await fh.close();
  }
}

/** The last `n` lines, read backwards in blocks: the cost is the tail's size, not the file's. */
export async function tailLines(file: string, n: number): Promise<string[]> {
  const want = Math.max(0, Math.min(n, 100000));
  if (!want) return [];
  const fh = await fsp.open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const chunks: Buffer[] = [];
    for (let pos = size, newlines = 0; pos > 0 && newlines <= want;) {
      const buf = Buffer.allocUnsafe(Math.min(TAIL_BLOCK, pos));
      pos -= buf.length;
      await fh.read(buf, 0, buf.length, pos);
      newlines += countLF(buf);
      chunks.unshift(buf);
    }
    return lastLines(chunks, want);
  } finally {
    await fh.close();
  }
}

/**
 * tailLines at once, for the few lines a result message carries at a run's end: one or two
 * small reads cost less than the thread-pool trips the run would wait on.
 */
export function tailLinesSync(file: string, n: number): string[] {
  const want = Math.max(0, Math.min(n, 1000));
  if (!want) return [];
  const fd = openSync(file, "r");
  try {
    const chunks: Buffer[] = [];
    for (let pos = fstatSync(fd).size, newlines = 0; pos > 0 && newlines <= want;) {
      const buf = Buffer.allocUnsafe(Math.min(TAIL_BLOCK, pos));
      pos -= buf.length;
      readSync(fd, buf, 0, buf.length, pos);
      newlines += countLF(buf);
      chunks.unshift(buf);
    }
    return lastLines(chunks, want);
  } finally {
    closeSync(fd);
  }
}

/**
 * The log lines a result message carries: a few at once (the run's end waits on them), a long
 * tail in the background; none when the log is gone.
 */
export async function resultTail(file: string, n: number): Promise<string[]> {
  try {
    return n <= 1000 ? tailLinesSync(file, n) : await tailLines(file, n);
  } catch {
    return [];
  }
}

const TAIL_BLOCK = 64 * 1024;

function countLF(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

function lastLines(chunks: Buffer[], want: number): string[] {
  const lines = Buffer.concat(chunks).toString("utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  // A progress line redrawn with carriage returns shows as its last state, as on a terminal.
  return lines.slice(-want).map((l) => (l.includes("\r") ? l.split("\r").filter((x) => x.trim()).pop() ?? "" : l));
}

/**
 * Lines containing `q` (case-insensitive), streamed, with 1-based line numbers; at most `limit`.
 * Lines end at LF only, as the viewer counts them: a progress line redrawn with CRs is one line.
 */
export async function searchLines(file: string, q: string, limit = 1000): Promise<{ line: number; text: string }[]> {
  const needle = q.toLowerCase();
  const out: { line: number; text: string }[] = [];
  const decoder = new StringDecoder("utf8");
  let rest = "";
  let no = 0;
  const look = (text: string): boolean => {
    no++;
    if (text.toLowerCase().includes(needle)) out.push({ line: no, text });
    return out.length >= limit;
  };
  const stream = createReadStream(file);
  try {
    for await (const chunk of stream) {
      const parts = (rest + decoder.write(chunk as Buffer)).split("\n");
      rest = parts.pop() ?? "";
      for (const p of parts) if (look(p)) return out;
    }
    rest += decoder.end();
    if (rest) look(rest);
    return out;
  } finally {
    stream.destroy();
  }
}

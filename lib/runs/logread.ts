import { promises as fsp, createReadStream } from "node:fs";
import { createInterface } from "node:readline";

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
    const block = 64 * 1024;
    let pos = size;
    let chunks: Buffer[] = [];
    let newlines = 0;
    while (pos > 0 && newlines <= want) {
      const len = Math.min(block, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      for (const b of buf) if (b === 10) newlines++;
      chunks = [buf, ...chunks];
    }
    const lines = Buffer.concat(chunks).toString("utf8").split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    // A progress line redrawn with carriage returns shows as its last state, as on a terminal.
    return lines.slice(-want).map((l) => (l.includes("\r") ? l.split("\r").filter((x) => x.trim()).pop() ?? "" : l));
  } finally {
    await fh.close();
  }
}

/** Lines containing `q` (case-insensitive), streamed, with 1-based line numbers; at most `limit`. */
export async function searchLines(file: string, q: string, limit = 1000): Promise<{ line: number; text: string }[]> {
  const needle = q.toLowerCase();
  const out: { line: number; text: string }[] = [];
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let no = 0;
  for await (const text of rl) {
    no++;
    if (text.toLowerCase().includes(needle)) {
      out.push({ line: no, text });
      if (out.length >= limit) { rl.close(); break; }
    }
  }
  return out;
}

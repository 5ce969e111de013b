import { promises as fsp, createReadStream } from "node:fs";
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

/**
 * The snapshot index file: a snapshot's whole tree (path, type, size, mtime, mode) in a form
 * that lists one folder by reading only that folder's part.
 *
 *   "HBIX" u32 version                                  header, 8 bytes
 *   chunks                                              each: up to CHUNK entries of one folder
 *   folder paths                                        UTF-8, back to back
 *   folder table   24 bytes a folder, sorted by path:   pathOff f64, pathLen u32, firstChunk u32, chunks u32, total u32
 *   chunk table    24 bytes a chunk, folder by folder:  offset f64, length u32, entries u32, check u32, 0 u32
 *   meta           JSON: the snapshot's id, entry and folder counts, when it was made
 *   footer         80 bytes: the sections' offsets and counts, the SHA-256 of paths..meta, "HBIXEND1"
 *
 * A folder is found by binary search in the folder table (a few reads of 24 bytes and a path)
 * and read chunk by chunk; a page of a huge folder reads only its chunks. Built from restic's
 * depth-first listing as it streams: a folder's entries wait in memory only while the listing
 * is inside it, and at most CHUNK of them (a folder with more is written in several chunks),
 * so memory grows with the depth of the tree, not its size. The file is written to a temporary
 * name and renamed when whole; a footer that is missing or does not add up, tables whose
 * checksum is wrong, or a chunk whose check is wrong make the file refused (IndexCorrupt),
 * never served.
 */
import { promises as fsp, type Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { createHash } from "node:crypto";
import { parentOf } from "./validate";

export interface IndexEntry {
  name: string;
  type: string;
  size: number | null;
  /** epoch ms */
  mtime: number | null;
  mode: number | null;
  permissions: string | null;
}

export interface IndexMeta {
  snapshot: string;
  entries: number;
  folders: number;
  createdAt: number;
}

export class IndexCorrupt extends Error {
  constructor(why: string) {
    super(`the snapshot index is damaged: ${why}`);
    this.name = "IndexCorrupt";
  }
}

const MAGIC = Buffer.from("HBIX");
const END = Buffer.from("HBIXEND1");
const VERSION = 1;
const HEADER = 8;
const FOOTER = 80;
const RECORD = 24;
/** Entries of one chunk: the most a folder holds in memory while it is written. */
export const CHUNK = 4096;

const TYPES = ["file", "dir", "symlink"];

function check(b: Buffer): number {
  return createHash("sha1").update(b).digest().readUInt32LE(0);
}

/**
 * Writes `e` at `f.used` of the folder's buffer (grown when short): one buffer a folder, not
 * one small Buffer an entry, so a million entries leave little garbage behind.
 */
function encodeInto(f: Frame, e: IndexEntry): void {
  const nameLen = Math.min(Buffer.byteLength(e.name, "utf8"), 0xffff);
  const code = TYPES.indexOf(e.type);
  const type = code < 0 ? e.type.slice(0, 255) : null;
  const typeLen = type === null ? 0 : Math.min(Buffer.byteLength(type, "utf8"), 255);
  const perms = e.permissions !== null ? e.permissions.slice(0, 255) : null;
  const permsLen = perms === null ? 0 : Math.min(Buffer.byteLength(perms, "utf8"), 255);
  const n = 1 + 2 + nameLen + (type !== null ? 1 + typeLen : 0) + (e.size !== null ? 8 : 0) + (e.mtime !== null ? 8 : 0) + (e.mode !== null ? 4 : 0) + (perms !== null ? 1 + permsLen : 0);
  if (f.used + n > f.buf.length) {
    const bigger = Buffer.allocUnsafe(Math.max(f.buf.length * 2, f.used + n));
    f.buf.copy(bigger, 0, 0, f.used);
    f.buf = bigger;
  }
  const b = f.buf;
  let flags = (code < 0 ? 3 : code) << 4;
  if (e.size !== null) flags |= 1;
  if (e.mtime !== null) flags |= 2;
  if (e.mode !== null) flags |= 4;
  if (perms !== null) flags |= 8;
  // Lengths are those written: a cut never splits a character, so it may write fewer bytes.
  let o = b.writeUInt8(flags, f.used);
  const named = b.write(e.name, o + 2, nameLen, "utf8");
  b.writeUInt16LE(named, o);
  o += 2 + named;
  if (type !== null) { const l = b.write(type, o + 1, typeLen, "utf8"); b.writeUInt8(l, o); o += 1 + l; }
  if (e.size !== null) o = b.writeDoubleLE(e.size, o);
  if (e.mtime !== null) o = b.writeDoubleLE(e.mtime, o);
  if (e.mode !== null) o = b.writeUInt32LE(e.mode >>> 0, o);
  if (perms !== null) { const l = b.write(perms, o + 1, permsLen, "utf8"); b.writeUInt8(l, o); o += 1 + l; }
  f.used = o;
  f.count++;
}

function decode(b: Buffer, count: number): IndexEntry[] {
  const out: IndexEntry[] = [];
  let o = 0;
  try {
    for (let i = 0; i < count; i++) {
      const flags = b.readUInt8(o++);
      const nameLen = b.readUInt16LE(o); o += 2;
      const name = b.toString("utf8", o, o + nameLen); o += nameLen;
      const code = flags >> 4;
      let type: string;
      if (code === 3) { const l = b.readUInt8(o++); type = b.toString("utf8", o, o + l); o += l; } else type = TYPES[code] ?? "file";
      let size: number | null = null, mtime: number | null = null, mode: number | null = null, permissions: string | null = null;
      if (flags & 1) { size = b.readDoubleLE(o); o += 8; }
      if (flags & 2) { mtime = b.readDoubleLE(o); o += 8; }
      if (flags & 4) { mode = b.readUInt32LE(o); o += 4; }
      if (flags & 8) { const l = b.readUInt8(o++); permissions = b.toString("utf8", o, o + l); o += l; }
      out.push({ name, type, size, mtime, mode, permissions });
    }
  } catch {
    throw new IndexCorrupt("an entry runs past its chunk");
  }
  if (o !== b.length) throw new IndexCorrupt("a chunk holds more than its entries");
  return out;
}

interface Frame { path: string; buf: Buffer; used: number; count: number }
const FRAME_START = 16 * 1024;
interface Folder { chunks: number[]; total: number }

/**
 * Writes an index as restic's listing streams by: `add` each node in the listing's order,
 * `drain` when `pending` says the buffer is large, `finish` once. Any order is accepted (a
 * folder met again later gets another chunk); restic's depth-first order gives one chunk per
 * folder of up to CHUNK entries.
 */
export class IndexWriter {
  private fh: FileHandle | null = null;
  private pos = HEADER;
  /**
   * Bytes of finished chunks not written yet, and a second buffer to fill while they are: the
   * writer reuses its buffers (these two and the open folders'), so a million entries allocate
   * almost no Buffers (garbage Buffers wait for a major GC, and showed as ~60 MB of RSS).
   */
  private out = Buffer.allocUnsafe(1024 * 1024);
  private outBytes = 0;
  private other = Buffer.allocUnsafe(1024 * 1024);
  private readonly spare: Buffer[] = [];
  private readonly stack: Frame[] = [];
  private readonly folders = new Map<string, Folder>([["/", { chunks: [], total: 0 }]]);
  /** Per chunk: offset, length, entries, check. */
  private readonly chunks: number[] = [];
  entries = 0;

  private constructor(readonly file: string, private readonly chunk: number) {}

  static async create(file: string, opts: { chunk?: number } = {}): Promise<IndexWriter> {
    const w = new IndexWriter(file, Math.max(1, opts.chunk ?? CHUNK));
    w.fh = await fsp.open(file, "w", 0o600);
    const head = Buffer.alloc(HEADER);
    MAGIC.copy(head, 0);
    head.writeUInt32LE(VERSION, 4);
    await w.fh.write(head, 0, HEADER, 0);
    return w;
  }

  /** Bytes waiting to be written: call `drain` when this grows past a few hundred KiB. */
  get pending(): number {
    return this.outBytes;
  }

  add(path: string, e: IndexEntry): void {
    if (path === "/" || !path.startsWith("/")) return;
    const parent = parentOf(path);
    // Leaving folders: restic is done with them, their last entries become a chunk.
    while (this.stack.length) {
      const top = this.stack[this.stack.length - 1]!;
      if (top.path === parent || parent.startsWith(top.path === "/" ? "/" : `${top.path}/`)) break;
      this.flush(top);
      this.stack.pop();
      if (this.spare.length < 64) this.spare.push(top.buf);
    }
    let top = this.stack[this.stack.length - 1];
    if (!top || top.path !== parent) {
      top = { path: parent, buf: this.spare.pop() ?? Buffer.allocUnsafe(FRAME_START), used: 0, count: 0 };
      this.stack.push(top);
    }
    encodeInto(top, e);
    this.entries++;
    if (!this.folders.has(parent)) this.folders.set(parent, { chunks: [], total: 0 });
    this.folders.get(parent)!.total++;
    if (e.type === "dir" && !this.folders.has(path)) this.folders.set(path, { chunks: [], total: 0 });
    if (top.count >= this.chunk) this.flush(top);
  }

  private flush(f: Frame): void {
    if (!f.count) return;
    const b = f.buf.subarray(0, f.used);
    this.folders.get(f.path)!.chunks.push(this.chunks.length / 4);
    this.chunks.push(this.pos, b.length, f.count, check(b));
    this.pos += b.length;
    if (this.outBytes + b.length > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.outBytes + b.length));
      this.out.copy(bigger, 0, 0, this.outBytes);
      this.out = bigger;
    }
    this.outBytes += b.copy(this.out, this.outBytes);
    f.used = 0;
    f.count = 0;
  }

  async drain(): Promise<void> {
    if (!this.outBytes || !this.fh) return;
    const b = this.out;
    const n = this.outBytes;
    const at = this.pos - n;
    this.out = this.other;
    this.other = b;
    this.outBytes = 0;
    await this.fh.write(b, 0, n, at);
  }

  /** Writes the tables and the footer, and closes the file. */
  async finish(snapshot: string): Promise<IndexMeta> {
    while (this.stack.length) this.flush(this.stack.pop()!);
    await this.drain();
    const paths = [...this.folders.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const pathBufs: Buffer[] = [];
    const folderTable = Buffer.alloc(paths.length * RECORD);
    const chunkTable = Buffer.alloc(this.chunks.length / 4 * RECORD);
    let pathOff = 0;
    let next = 0;
    paths.forEach((p, i) => {
      const f = this.folders.get(p)!;
      const pb = Buffer.from(p, "utf8");
      pathBufs.push(pb);
      const o = i * RECORD;
      folderTable.writeDoubleLE(pathOff, o);
      folderTable.writeUInt32LE(pb.length, o + 8);
      folderTable.writeUInt32LE(next, o + 12);
      folderTable.writeUInt32LE(f.chunks.length, o + 16);
      folderTable.writeUInt32LE(f.total, o + 20);
      pathOff += pb.length;
      for (const c of f.chunks) {
        const t = next++ * RECORD;
        chunkTable.writeDoubleLE(this.chunks[c * 4]!, t);
        chunkTable.writeUInt32LE(this.chunks[c * 4 + 1]!, t + 8);
        chunkTable.writeUInt32LE(this.chunks[c * 4 + 2]!, t + 12);
        chunkTable.writeUInt32LE(this.chunks[c * 4 + 3]!, t + 16);
      }
    });
    const meta: IndexMeta = { snapshot, entries: this.entries, folders: paths.length, createdAt: Date.now() };
    const metaBuf = Buffer.from(JSON.stringify(meta), "utf8");
    const pathsBuf = Buffer.concat(pathBufs);
    const tables = Buffer.concat([pathsBuf, folderTable, chunkTable, metaBuf]);
    const footer = Buffer.alloc(FOOTER);
    const base = this.pos;
    footer.writeDoubleLE(base, 0);
    footer.writeDoubleLE(base + pathsBuf.length, 8);
    footer.writeUInt32LE(paths.length, 16);
    footer.writeDoubleLE(base + pathsBuf.length + folderTable.length, 20);
    footer.writeUInt32LE(chunkTable.length / RECORD, 28);
    footer.writeDoubleLE(base + pathsBuf.length + folderTable.length + chunkTable.length, 32);
    footer.writeUInt32LE(metaBuf.length, 40);
    createHash("sha256").update(tables).digest().copy(footer, 44, 0, 28);
    END.copy(footer, 72);
    await this.fh!.write(Buffer.concat([tables, footer]), 0, tables.length + FOOTER, base);
    await this.fh!.sync();
    await this.fh!.close();
    this.fh = null;
    return meta;
  }

  /** Gives up: closes the file (the caller removes it). */
  async abort(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = null;
  }
}

/** Files whose tables were checked in this process (by identity): each is hashed once. */
const verified = new Set<string>();

interface Layout { paths: number; folders: number; nFolders: number; chunks: number; nChunks: number; meta: number; metaLen: number; hash: Buffer }

export interface FolderPage {
  total: number;
  entries: IndexEntry[];
}

/** A read-only view of one index file. Close it when done. */
export class IndexReader {
  private constructor(private readonly fh: FileHandle, private readonly l: Layout, readonly meta: IndexMeta, readonly stats: Stats) {}

  static async open(file: string): Promise<IndexReader> {
    const fh = await fsp.open(file, "r");
    try {
      const st = await fh.stat();
      if (st.size < HEADER + FOOTER) throw new IndexCorrupt("it is shorter than its header and footer");
      const head = Buffer.alloc(HEADER);
      await fh.read(head, 0, HEADER, 0);
      if (!head.subarray(0, 4).equals(MAGIC) || head.readUInt32LE(4) !== VERSION) throw new IndexCorrupt("its header is not an index's");
      const f = Buffer.alloc(FOOTER);
      await fh.read(f, 0, FOOTER, st.size - FOOTER);
      if (!f.subarray(72).equals(END)) throw new IndexCorrupt("it has no footer (a partial file)");
      const l: Layout = {
        paths: f.readDoubleLE(0), folders: f.readDoubleLE(8), nFolders: f.readUInt32LE(16), chunks: f.readDoubleLE(20),
        nChunks: f.readUInt32LE(28), meta: f.readDoubleLE(32), metaLen: f.readUInt32LE(40), hash: f.subarray(44, 72),
      };
      const ok = l.paths >= HEADER && l.folders >= l.paths && l.chunks === l.folders + l.nFolders * RECORD
        && l.meta === l.chunks + l.nChunks * RECORD && l.meta + l.metaLen === st.size - FOOTER && l.nFolders >= 1;
      if (!ok) throw new IndexCorrupt("its footer does not add up");
      const id = `${file}\0${st.ino}\0${st.size}\0${st.mtimeMs}`;
      if (!verified.has(id)) {
        const tables = Buffer.alloc(st.size - FOOTER - l.paths);
        await fh.read(tables, 0, tables.length, l.paths);
        if (!createHash("sha256").update(tables).digest().subarray(0, 28).equals(l.hash)) throw new IndexCorrupt("its tables' checksum is wrong");
        verified.add(id);
      }
      const mb = Buffer.alloc(l.metaLen);
      await fh.read(mb, 0, l.metaLen, l.meta);
      let meta: IndexMeta;
      try { meta = JSON.parse(mb.toString("utf8")) as IndexMeta; } catch { throw new IndexCorrupt("its description does not parse"); }
      return new IndexReader(fh, l, meta, st);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  private async bytes(at: number, n: number): Promise<Buffer> {
    const b = Buffer.alloc(n);
    const { bytesRead } = await this.fh.read(b, 0, n, at);
    if (bytesRead !== n) throw new IndexCorrupt("it ends early");
    return b;
  }

  private async folderAt(i: number): Promise<{ path: string; first: number; chunks: number; total: number }> {
    const r = await this.bytes(this.l.folders + i * RECORD, RECORD);
    const off = r.readDoubleLE(0), len = r.readUInt32LE(8);
    if (off + len > this.l.folders - this.l.paths) throw new IndexCorrupt("a folder's path lies outside the paths");
    const path = (await this.bytes(this.l.paths + off, len)).toString("utf8");
    return { path, first: r.readUInt32LE(12), chunks: r.readUInt32LE(16), total: r.readUInt32LE(20) };
  }

  /** The folder record of `dir`, or null when the snapshot has no such folder. */
  private async find(dir: string): Promise<{ first: number; chunks: number; total: number } | null> {
    let lo = 0, hi = this.l.nFolders - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = await this.folderAt(mid);
      if (f.path === dir) return f;
      if (f.path < dir) lo = mid + 1; else hi = mid - 1;
    }
    return null;
  }

  /** Whether `dir` is a folder of the snapshot. */
  async isFolder(dir: string): Promise<boolean> {
    return (await this.find(dir)) !== null;
  }

  /**
   * `limit` entries of `dir` from `offset` (all by default), reading only the chunks that hold
   * them; null when the snapshot has no folder `dir`.
   */
  async list(dir: string, page: { offset?: number; limit?: number } = {}): Promise<FolderPage | null> {
    const f = await this.find(dir);
    if (!f) return null;
    const from = Math.max(0, page.offset ?? 0);
    const to = Math.min(f.total, from + (page.limit ?? f.total));
    const entries: IndexEntry[] = [];
    let seen = 0;
    const table = await this.bytes(this.l.chunks + f.first * RECORD, f.chunks * RECORD);
    for (let c = 0; c < f.chunks && seen < to; c++) {
      const count = table.readUInt32LE(c * RECORD + 12);
      if (seen + count > from) {
        const at = table.readDoubleLE(c * RECORD), len = table.readUInt32LE(c * RECORD + 8);
        if (at < HEADER || at + len > this.l.paths) throw new IndexCorrupt("a chunk lies outside the data");
        const b = await this.bytes(at, len);
        if (check(b) !== table.readUInt32LE(c * RECORD + 16)) throw new IndexCorrupt("a chunk's check is wrong");
        const list = decode(b, count);
        for (let i = Math.max(0, from - seen); i < count && seen + i < to; i++) entries.push(list[i]!);
      }
      seen += count;
    }
    return { total: f.total, entries };
  }

  /** What `path` is in the snapshot, or null. */
  async stat(path: string): Promise<IndexEntry | null> {
    if (path === "/") return { name: "", type: "dir", size: null, mtime: null, mode: null, permissions: null };
    const slash = path.lastIndexOf("/");
    const name = path.slice(slash + 1);
    const page = await this.list(slash <= 0 ? "/" : path.slice(0, slash));
    return page?.entries.find((e) => e.name === name) ?? null;
  }
}

import { gzipSync } from "node:zlib";
import type { Request, Response } from "express";

/** Below this a compressed answer saves less than the compression costs. */
const SMALL = 1024;

/**
 * A JSON array that is polled (the job list), sent as cheaply as the last one when it has not
 * changed: its bytes, their gzip and its ETag are kept until an item differs, so an unchanged
 * poll neither hashes nor compresses, a browser's revalidation gets 304 with no body, and a job
 * list with every job's last result is not paid for in bytes on the wire. (Express's own ETag
 * would hash the whole text on every request.)
 */
export class PolledAnswer {
  private items: string[] = [];
  private text = "";
  private tag = "";
  private plain: Buffer | null = null;
  private packed: Buffer | null = null;
  private version = 0;
  // Tags of an earlier process never match, so a restart cannot answer 304 to an old list.
  private readonly boot = Date.now().toString(36);

  constructor(private readonly name: string) {}

  /**
   * Sends the array of `items` (each already JSON). The caller keeps an item's string while its
   * source is unchanged, and the very same string compares equal at once: an unchanged list is
   * neither joined nor compared character by character again.
   */
  send(req: Request, res: Response, items: string[]): void {
    if (!this.tag || items.length !== this.items.length || items.some((x, i) => x !== this.items[i])) {
      this.items = items;
      this.text = `[${items.join(",")}]`;
      this.tag = `W/"${this.name}-${this.boot}-${++this.version}"`;
      this.plain = this.packed = null;
    }
    res.setHeader("ETag", this.tag);
    // Always revalidated: a poll must see the run that ended a moment ago.
    res.setHeader("Cache-Control", "no-cache");
    res.setHeader("Vary", "Accept-Encoding");
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    if (fresh(req.headers["if-none-match"], this.tag)) {
      res.status(304).end();
      return;
    }
    const text = this.text;
    if (text.length >= SMALL && req.acceptsEncodings("gzip") === "gzip") {
      this.packed ??= gzipSync(text);
      res.setHeader("Content-Encoding", "gzip");
      res.end(this.packed);
      return;
    }
    this.plain ??= Buffer.from(text, "utf8");
    res.end(this.plain);
  }
}

/** Whether If-None-Match names the current tag (a list of tags, weak or strong, or `*`). */
function fresh(header: string | undefined, tag: string): boolean {
  if (!header) return false;
  const bare = tag.replace(/^W\//, "");
  return header.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v.replace(/^W\//, "") === bare;
  });
}

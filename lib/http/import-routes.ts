/**
 * Import from the editor: PRestic's config.ini or Highball's config.yaml in, an importable
 * flow out. Nothing is stored or deployed here; the editor adds the flow to a new tab, and the
 * user deploys it. The answer carries no secret: the importers leave every password and token
 * out of the flow and say so in a warning.
 *
 *   POST highball/import/prestic    body: the file's text (text/plain), or JSON {text, tab?}
 *   POST highball/import/highball   the same, for config.yaml
 *   → 200 {flow: [...nodes], warnings: [...], deletedJobs?: [...]}  |  400/413/415 {error}
 *
 * Converting only reads what it is sent, but its product is a flow to deploy, so the routes
 * want highball.write like everything else that leads to runs.
 */
import type { Request, Response, RequestHandler } from "express";
import { importPrestic, importHighball, type ImportResult, type HighballImportResult } from "../migrate";
import { ProfileError } from "../profile/options";
import { WordsError } from "../profile/words";
import { fail, mountOnce, type AdminRED } from "./shared";

/** The largest file accepted: real configs are a few KB; a megabyte leaves room for comments. */
export const IMPORT_MAX_BYTES = 1024 * 1024;
const TAB_MAX = 100;

class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

type Format = "prestic" | "highball";

const NAMES: Record<Format, string> = { prestic: "PRestic's config.ini", highball: "Highball's config.yaml" };

/** The body as text, at most IMPORT_MAX_BYTES: JSON {text}, or the raw bytes of any other type. */
async function bodyText(req: Request, what: string): Promise<{ text: string; tab?: string }> {
  const tooBig = new BadRequest(413, `the file is larger than ${IMPORT_MAX_BYTES / 1024 / 1024} MB; ${what} is never that big`);
  if (req.is("application/json") || req.is("application/x-www-form-urlencoded")) {
    // Node-RED's own body parsers have read these already.
    const b = req.body as unknown;
    const obj = b && typeof b === "object" && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
    if (typeof obj.text !== "string") {
      throw new BadRequest(req.is("application/json") ? 400 : 415,
        `send ${what} as the body (Content-Type: text/plain) or as JSON {"text": "..."}`);
    }
    if (Buffer.byteLength(obj.text, "utf8") > IMPORT_MAX_BYTES) throw tooBig;
    if (obj.tab !== undefined && typeof obj.tab !== "string") throw new BadRequest(400, "tab must be a text (the new tab's label)");
    return { text: obj.text, tab: obj.tab as string | undefined };
  }
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > IMPORT_MAX_BYTES) throw tooBig;
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  await new Promise<void>((resolve, reject) => {
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > IMPORT_MAX_BYTES) over = true;
      // Past the limit, what follows is read and dropped, so the answer reaches the client;
      // a client that never stops is cut off.
      if (over) { if (size > 8 * IMPORT_MAX_BYTES) req.destroy(); return; }
      chunks.push(c);
    });
    req.once("end", resolve);
    req.once("error", reject);
    req.once("close", resolve);
  });
  if (over) throw tooBig;
  const q = req.query.tab;
  return { text: Buffer.concat(chunks).toString("utf8"), tab: typeof q === "string" ? q : undefined };
}

/** 1-based line of `key` in `[section]` (or in [DEFAULT], where a section's value may come from). */
function keyLine(lines: string[], section: string, key: string): number | null {
  for (const sec of [section, "DEFAULT"]) {
    let inside = false;
    for (let i = 0; i < lines.length; i++) {
      const head = /^\s*\[(.+)\]/.exec(lines[i]!);
      if (head) { inside = head[1] === sec; continue; }
      if (!inside) continue;
      const m = /^\s*(.*?)\s*[=:]/.exec(lines[i]!);
      if (m && (m[1] === key || m[1]!.toLowerCase() === key)) return i + 1;
    }
  }
  return null;
}

/** The importer's sentence, with the line it is about when the sentence does not say it yet. */
function located(format: Format, text: string, message: string): string {
  if (format === "prestic") {
    if (/^line \d+:/.test(message)) return message;
    const m = /^\[([^\]]+)\] ([^:]+):/.exec(message);
    const line = m ? keyLine(text.replace(/^\uFEFF/, "").split(/\r?\n/), m[1]!, m[2]!) : null;
    return line ? `line ${line}: ${message}` : message;
  }
  // The YAML parser says "at line 2, column 1:" and then draws the spot on further lines.
  return message.replace(/:\s*$/, "");
}

function convert(format: Format, text: string, tab: string | undefined): ImportResult | HighballImportResult {
  const opts = tab && tab.trim() ? { tab: tab.trim().slice(0, TAB_MAX) } : {};
  try {
    return format === "prestic" ? importPrestic(text, opts) : importHighball(text, opts);
  } catch (err) {
    // The importers throw plain sentences about the file; anything else is a fault of ours.
    const e = err as Error;
    if (e instanceof ProfileError || e instanceof WordsError || (e instanceof Error && e.constructor === Error)) {
      throw new BadRequest(400, `${NAMES[format]} could not be read: ${located(format, text, e.message)}`);
    }
    throw new BadRequest(500, `the importer failed on this file (${e instanceof Error ? e.name : "error"}); nothing was imported`);
  }
}

function route(format: Format): RequestHandler {
  return (req: Request, res: Response) => {
    void (async () => {
      const { text, tab } = await bodyText(req, NAMES[format]);
      if (!text.trim()) throw new BadRequest(400, `the body is empty: send the text of ${NAMES[format]}`);
      if (text.includes("\0")) throw new BadRequest(400, `that is not a text file: ${NAMES[format]} is text`);
      const result = convert(format, text, tab);
      const answer: { flow: unknown[]; warnings: string[]; deletedJobs?: unknown[] } = { flow: result.nodes, warnings: result.warnings };
      if ("deletedJobs" in result) answer.deletedJobs = result.deletedJobs;
      res.json(answer);
    })().catch((err: unknown) => {
      if (res.headersSent) return;
      if (err instanceof BadRequest) fail(res, err.status, err.message);
      else fail(res, 500, "the file could not be converted");
    });
  };
}

/** Mounts the import routes once per admin app (the plugin and routes.ts may both call this). */
export function mountImportRoutes(RED: AdminRED): void {
  mountOnce(RED, "import", (app, { write }) => {
    app.post("/highball/import/prestic", write, route("prestic"));
    app.post("/highball/import/highball", write, route("highball"));
  });
}

// From a result message to a NotifyEvent, and from events to the text each channel gets.
import {
  clip, cleanLine, escapeHtml, escapeMarkdownV2, humanCount, humanDuration, humanSize, localTime, plain,
  renderTemplate, type Escape, type TemplateValue,
} from "./format";
import type { GroupInfo, NotifyEvent, Outcome, ParseMode, Rendered, Templates } from "./types";

const RUN_STATUSES = new Set(["success", "warning", "failed", "cancelled", "interrupted", "delayed"]);

export const ICONS: Record<Outcome, string> = {
  success: "✔",
  warning: "⚠",
  failed: "✖",
  cancelled: "⏹",
  interrupted: "⚡",
  delayed: "⏳",
  stale: "⏰",
};

/** Most severe first; a digest is as severe as its worst group. */
export const SEVERITY: Record<Outcome, number> = {
  failed: 0, interrupted: 1, stale: 2, warning: 3, delayed: 4, cancelled: 5, success: 6,
};

/** Telegram refuses texts longer than this (after entity parsing; we count before, to be safe). */
export const TELEGRAM_MAX = 4096;
const ERROR_MAX = 600;
const LINE_MAX = 300;

export type Parsed = { ok: true; event: NotifyEvent } | { ok: false; ignored: boolean; error: string };

function str(v: unknown): string | undefined {
  if (typeof v === "string" && v.trim() !== "") return v.trim();
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function time(v: unknown): number | undefined {
  const n = num(v);
  if (n !== undefined) return n;
  if (typeof v === "string") {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

function errorText(v: unknown): string | undefined {
  if (v instanceof Error) return str(v.message);
  if (v && typeof v === "object" && "message" in v) return str((v as { message: unknown }).message);
  return str(v);
}

function reasonText(v: unknown): string | undefined {
  if (Array.isArray(v)) return str(v.map((x) => String(x)).join(", "));
  return str(v);
}

/**
 * Reads a run result (`{topic, payload: {job, status, ...}, run: {logTail, logUrl}}`) or a conflict
 * gate's delay notice (`payload.status === "delayed"`). Anything else is refused with a sentence.
 */
export function parseInput(input: unknown, now: number): Parsed {
  if (!input || typeof input !== "object") return { ok: false, ignored: false, error: "The message is not an object." };
  const msg = input as { topic?: unknown; payload?: unknown; run?: unknown };
  const p = msg.payload;
  if (!p || typeof p !== "object" || Array.isArray(p)) {
    return { ok: false, ignored: false, error: "msg.payload is not a run result: expected an object with job and status." };
  }
  const r = p as Record<string, unknown>;
  const status = str(r.status);
  if (!status) return { ok: false, ignored: false, error: "msg.payload.status is missing: expected success, warning, failed, cancelled, interrupted or delayed." };
  if (!RUN_STATUSES.has(status)) return { ok: false, ignored: true, error: `Status "${clip(status, 40)}" is not one that is notified.` };
  const job = str(r.job) ?? str(msg.topic) ?? str(r.jobId);
  if (!job) return { ok: false, ignored: false, error: "The result names no job: set msg.payload.job or msg.topic." };

  const run = msg.run && typeof msg.run === "object" ? (msg.run as Record<string, unknown>) : {};
  const tail = Array.isArray(run.logTail) ? run.logTail : Array.isArray(r.logTail) ? r.logTail : [];
  const finishedAt = time(r.finishedAt);
  const event: NotifyEvent = {
    outcome: status as Outcome,
    job: clip(job, 200),
    jobId: clip(str(r.jobId) ?? job, 200),
    at: finishedAt ?? now,
    runId: str(r.runId),
    engine: str(r.engine),
    command: str(r.command),
    startedAt: time(r.startedAt),
    finishedAt,
    durationMs: num(r.durationMs),
    exitCode: num(r.exitCode),
    filesTotal: num(r.filesTotal),
    filesChanged: num(r.filesChanged),
    bytesTotal: num(r.bytesTotal),
    bytesTransferred: num(r.bytesTransferred),
    snapshotId: str(r.snapshotId),
    error: errorText(r.error),
    waitedMs: num(r.waitedMs),
    reason: reasonText(r.reason ?? r.waitingFor ?? r.blockedBy),
    logTail: tail.filter((l): l is string => typeof l === "string"),
    logUrl: str(run.logUrl) ?? str(r.logUrl),
    logFile: str(run.logFile),
  };
  if (event.durationMs === undefined && event.startedAt !== undefined && event.finishedAt !== undefined) {
    event.durationMs = Math.max(0, event.finishedAt - event.startedAt);
  }
  return { ok: true, event };
}

/** The error sentence a notification shows: the run's own, or its exit code. */
export function errorOf(e: NotifyEvent): string {
  if (e.error) return clip(e.error.replace(/\s+/g, " "), ERROR_MAX);
  if ((e.outcome === "failed" || e.outcome === "warning") && e.exitCode !== undefined) return `exit code ${e.exitCode}`;
  return "";
}

export function outcomeText(e: Pick<NotifyEvent, "outcome" | "sinceMs">): string {
  switch (e.outcome) {
    case "success": return "succeeded";
    case "warning": return "finished with warnings";
    case "failed": return "failed";
    case "cancelled": return "was cancelled";
    case "interrupted": return "was interrupted";
    case "delayed": return "is delayed";
    case "stale": return e.sinceMs !== undefined ? `has no successful backup for ${humanDuration(e.sinceMs)}` : "has no recent successful backup";
  }
}

/** Short plain line for the node's output: "✔ photos: success in 2m 3s, 1.2 GB". */
export function shortText(e: NotifyEvent): string {
  const dur = humanDuration(e.durationMs);
  const size = humanSize(e.bytesTotal ?? e.bytesTransferred);
  const err = errorOf(e);
  let detail = "";
  switch (e.outcome) {
    case "success":
    case "warning":
      detail = [dur && ` in ${dur}`, size && `, ${size}`, err && `: ${err}`].join("");
      break;
    case "failed":
    case "cancelled":
    case "interrupted":
      detail = [dur && ` after ${dur}`, err && `: ${err}`].join("");
      break;
    case "delayed":
      detail = [e.waitedMs !== undefined && `, waiting ${humanDuration(e.waitedMs)}`, e.reason && ` for ${e.reason}`].filter(Boolean).join("");
      break;
    case "stale":
      detail = e.sinceMs !== undefined ? `, no successful backup for ${humanDuration(e.sinceMs)}` : "";
      break;
  }
  return clip(`${ICONS[e.outcome]} ${e.job}: ${e.outcome}${detail}`, 200);
}

export const DEFAULT_SUBJECT = "[Highball] {{icon}} {{job}} {{outcome}}";

export const DEFAULT_BODY = [
  "{{icon}} {{job}} {{outcome}}",
  "",
  "Error: {{error}}",
  "Waiting for: {{reason}}",
  "Waited: {{waited}}",
  "Last successful backup: {{lastSuccess}}",
  "Duration: {{duration}}",
  "Size: {{size}}",
  "Transferred: {{transferred}}",
  "Files: {{files}}",
  "Snapshot: {{snapshotId}}",
  "Started: {{startedAt}}",
  "Finished: {{finishedAt}}",
  "Run: {{runId}}",
  "",
  "Last {{logLines}} lines of the log:",
  "{{logBlock}}",
  "",
  "Full log: {{logUrl}}",
  "",
  "-- ",
  "Highball for Node-RED on {{host}}",
].join("\n");

export const DEFAULT_TELEGRAM_HTML = [
  "{{icon}} <b>{{job}}</b> {{outcome}}",
  "<b>Error:</b> {{error}}",
  "Waiting for: {{reason}}",
  "Waited: {{waited}}",
  "Last successful backup: {{lastSuccess}}",
  "Duration: {{duration}}",
  "Size: {{size}}",
  "Transferred: {{transferred}}",
  "Files: {{files}}",
  "Snapshot: <code>{{snapshotId}}</code>",
  "{{logBlock}}",
  "Full log: {{logUrl}}",
].join("\n");

export const DEFAULT_TELEGRAM_MARKDOWN = [
  "{{icon}} *{{job}}* {{outcome}}",
  "*Error:* {{error}}",
  "Waiting for: {{reason}}",
  "Waited: {{waited}}",
  "Last successful backup: {{lastSuccess}}",
  "Duration: {{duration}}",
  "Size: {{size}}",
  "Transferred: {{transferred}}",
  "Files: {{files}}",
  "Snapshot: `{{snapshotId}}`",
  "{{logBlock}}",
  "Full log: {{logUrl}}",
].join("\n");

export const PLACEHOLDERS = [
  "job", "jobId", "runId", "status", "outcome", "icon", "duration", "size", "transferred", "files",
  "filesTotal", "filesChanged", "error", "exitCode", "engine", "command", "snapshotId", "startedAt",
  "finishedAt", "waited", "reason", "since", "lastSuccess", "logTail", "logBlock", "logLines", "logUrl",
  "host", "count",
] as const;

type Target = "email" | ParseMode;

function escapeFor(target: Target): Escape {
  return target === "HTML" ? escapeHtml : target === "MarkdownV2" ? escapeMarkdownV2 : plain;
}

function logBlock(lines: string[], target: Target): string {
  if (lines.length === 0) return "";
  const text = lines.join("\n");
  if (target === "HTML") return `<pre>${escapeHtml(text)}</pre>`;
  if (target === "MarkdownV2") return "```\n" + escapeMarkdownV2(text) + "\n```";
  return lines.map((l) => `  ${l}`).join("\n");
}

export interface RenderContext {
  templates: Templates;
  parseMode: ParseMode;
  logLines: number;
  host: string;
  redact: (s: string) => string;
}

/** The placeholder values of one event; `lines` is the log tail already cut to size. */
export function templateValues(e: NotifyEvent, lines: string[], target: Target, ctx: RenderContext, count = 1): Record<string, TemplateValue> {
  const r = ctx.redact;
  const v = (text: string | undefined): TemplateValue => ({ text: text ? r(text) : "" });
  const files = e.filesTotal !== undefined
    ? `${humanCount(e.filesTotal)}${e.filesChanged !== undefined ? ` (${humanCount(e.filesChanged)} changed)` : ""}`
    : e.filesChanged !== undefined ? `${humanCount(e.filesChanged)} changed` : "";
  const logUrl = logLinkOf(e, ctx.templates);
  return {
    job: v(e.job),
    jobId: v(e.jobId),
    runId: v(e.runId),
    status: v(e.outcome),
    outcome: v(outcomeText(e)),
    icon: v(ICONS[e.outcome]),
    duration: v(humanDuration(e.durationMs)),
    size: v(humanSize(e.bytesTotal ?? e.bytesTransferred)),
    transferred: v(e.bytesTotal !== undefined ? humanSize(e.bytesTransferred) : ""),
    files: v(files),
    filesTotal: v(humanCount(e.filesTotal)),
    filesChanged: v(humanCount(e.filesChanged)),
    error: v(errorOf(e)),
    exitCode: v(e.exitCode !== undefined ? String(e.exitCode) : ""),
    engine: v(e.engine),
    command: v(e.command),
    snapshotId: v(e.snapshotId),
    startedAt: v(localTime(e.startedAt)),
    finishedAt: v(localTime(e.finishedAt)),
    waited: v(e.outcome === "delayed" ? humanDuration(e.waitedMs) : ""),
    reason: v(e.reason),
    since: v(humanDuration(e.sinceMs)),
    lastSuccess: v(e.outcome === "stale" ? (e.lastSuccessAt !== undefined ? localTime(e.lastSuccessAt) : "never seen") : ""),
    logTail: v(lines.join("\n")),
    logBlock: { text: logBlock(lines.map(r), target), raw: true },
    logLines: v(lines.length ? String(lines.length) : ""),
    logUrl: v(logUrl),
    host: v(ctx.host),
    count: v(count > 1 ? String(count) : ""),
  };
}

/** Where the full log is: the caller's URL, else the configured link for this run, else the file. */
export function logLinkOf(e: NotifyEvent, templates: Templates): string | undefined {
  if (e.logUrl) return e.logUrl;
  if (templates.logLink?.trim() && e.runId) {
    return renderTemplate(templates.logLink.trim(),
      { runId: { text: e.runId }, jobId: { text: e.jobId }, job: { text: e.job } }, encodeURIComponent);
  }
  return e.logFile;
}

function tailOf(e: NotifyEvent, n: number): string[] {
  return n > 0 ? e.logTail.slice(-n).map((l) => cleanLine(l, LINE_MAX)) : [];
}

function telegramTemplate(ctx: RenderContext): string {
  if (ctx.templates.telegram?.trim()) return ctx.templates.telegram;
  return ctx.parseMode === "HTML" ? DEFAULT_TELEGRAM_HTML : DEFAULT_TELEGRAM_MARKDOWN;
}

/** Renders one event for every channel; the log quote shrinks until Telegram's limit fits. */
export function renderSingle(e: NotifyEvent, ctx: RenderContext): Rendered {
  const lines = tailOf(e, ctx.logLines);
  const subject = renderTemplate(ctx.templates.subject?.trim() ? ctx.templates.subject : DEFAULT_SUBJECT,
    templateValues(e, [], "email", ctx), plain).replace(/\s*\n\s*/g, " ");
  const body = renderTemplate(ctx.templates.body?.trim() ? ctx.templates.body : DEFAULT_BODY,
    templateValues(e, lines, "email", ctx), plain);
  const tpl = telegramTemplate(ctx);
  let text = "";
  for (let n = lines.length; n >= 0; n = n > 4 ? Math.floor(n / 2) : n - 1) {
    text = renderTemplate(tpl, templateValues(e, lines.slice(lines.length - n), ctx.parseMode, ctx), escapeFor(ctx.parseMode));
    if (text.length <= TELEGRAM_MAX) break;
  }
  const telegram = text.length <= TELEGRAM_MAX
    ? { text, parseMode: ctx.parseMode }
    // Cutting formatted text could split a tag; plain text can be cut anywhere.
    : { text: clip(body, TELEGRAM_MAX) };
  return { subject: clip(subject, 250), body, telegram, short: ctx.redact(shortText(e)) };
}

function groupLine(g: GroupInfo): string {
  return `${ICONS[g.outcome]} ${g.job} ${g.outcome} ×${g.count}`;
}

const DIGEST_MAX_GROUPS = 30;

/** One message for many events: a line per group (job, outcome, error) with its count. */
export function renderDigest(groups: GroupInfo[], windowMs: number, ctx: RenderContext, logUrls: Map<GroupInfo, string | undefined>): Rendered {
  const sorted = [...groups].sort((a, b) => SEVERITY[a.outcome] - SEVERITY[b.outcome] || b.count - a.count || a.job.localeCompare(b.job));
  const total = sorted.reduce((n, g) => n + g.count, 0);
  const shown = sorted.slice(0, DIGEST_MAX_GROUPS);
  const more = sorted.length - shown.length;
  const r = ctx.redact;
  const win = humanDuration(windowMs);
  const heading = `Highball: ${total} notification${total === 1 ? "" : "s"} in the last ${win}`;

  const emailLines = shown.map((g) => {
    const err = g.error ? `: ${r(g.error)}` : "";
    const url = logUrls.get(g);
    return `${groupLine(g)}${err}${url ? `\n    full log of the latest: ${r(url)}` : ""}`;
  });
  if (more > 0) emailLines.push(`… and ${more} more kind${more === 1 ? "" : "s"}`);
  const body = [heading, "", ...emailLines, "", "-- ", `Highball for Node-RED on ${ctx.host}`].join("\n");

  const esc = escapeFor(ctx.parseMode);
  const bold = (s: string): string => ctx.parseMode === "HTML" ? `<b>${escapeHtml(s)}</b>` : `*${escapeMarkdownV2(s)}*`;
  const tgLines = shown.map((g) => {
    const err = g.error ? esc(`: ${clip(r(g.error), 300)}`) : "";
    return `${esc(`${ICONS[g.outcome]} `)}${bold(g.job)}${esc(` ${g.outcome} ×${g.count}`)}${err}`;
  });
  if (more > 0) tgLines.push(esc(`… and ${more} more kind${more === 1 ? "" : "s"}`));
  let text = [bold(heading), ...tgLines].join("\n");
  while (text.length > TELEGRAM_MAX && tgLines.length > 1) {
    tgLines.pop();
    text = [bold(heading), ...tgLines, esc("… (more in the email or the node's output)")].join("\n");
  }

  const parts = shown.slice(0, 3).map(groupLine);
  const rest = sorted.length - parts.length;
  const summary = `${parts.join(", ")}${rest > 0 ? ` +${rest} more` : ""}`;
  return {
    subject: clip(`[Highball] ${summary}`, 250),
    body,
    telegram: text.length <= TELEGRAM_MAX ? { text, parseMode: ctx.parseMode } : { text: clip(body, TELEGRAM_MAX) },
    short: clip(r(summary), 200),
  };
}

// Human numbers, escaping for Telegram's parse modes, and the placeholder templates.

export function humanDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${trim1(s)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const total = Math.floor(s);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  return sec ? `${m}m ${sec}s` : `${m}m`;
}

const UNITS = ["kB", "MB", "GB", "TB", "PB", "EB"];

/** Decimal units, as disks are sold and as "1.2 GB" reads. */
export function humanSize(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let v = bytes;
  let i = -1;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 100 ? trim1(v) : Math.round(v)} ${UNITS[i]}`;
}

function trim1(v: number): string {
  return (Math.round(v * 10) / 10).toFixed(1).replace(/\.0$/, "");
}

export function humanCount(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "";
  return Math.round(n).toLocaleString("en-US");
}

export function localTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "";
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Telegram HTML: only &, < and > are special outside tags. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Telegram MarkdownV2: every one of these must be escaped, inside code blocks too is allowed. */
export function escapeMarkdownV2(s: string): string {
  return s.replace(/[_*[\]()~`>#+\-=|{}.!\\]/g, "\\$&");
}

export type Escape = (s: string) => string;
export const plain: Escape = (s) => s;

/** Control characters and terminal colour codes out; tabs kept. */
export function cleanLine(s: string, max: number): string {
  const t = s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "").trimEnd();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export interface TemplateValue {
  text: string;
  /** Already formatted for the target (e.g. a <pre> block): not escaped again. */
  raw?: boolean;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * `{{name}}` placeholders filled from `values` (escaped for the target); unknown names stay as
 * written so a typo shows. A template line whose placeholders are all empty is left out, so
 * "Error: {{error}}" disappears when there is no error. No expressions, no code: plain lookup.
 */
export function renderTemplate(template: string, values: Record<string, TemplateValue>, escape: Escape): string {
  const out: string[] = [];
  for (const line of template.replace(/\r\n/g, "\n").split("\n")) {
    let seen = false;
    let filled = false;
    const rendered = line.replace(PLACEHOLDER, (whole, name: string) => {
      if (!Object.prototype.hasOwnProperty.call(values, name)) return whole;
      seen = true;
      const v = values[name];
      if (v.text === "") return "";
      filled = true;
      return v.raw ? v.text : escape(v.text);
    });
    if (seen && !filled) continue;
    out.push(rendered);
  }
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trim();
}

/** Removes every given secret, and anything shaped like a Telegram bot token, from a text. */
export function redactor(secrets: Array<string | undefined>): (s: string) => string {
  const list = secrets
    .filter((s): s is string => typeof s === "string" && s.length >= 4)
    .flatMap((s) => [s, encodeURIComponent(s)])
    .sort((a, b) => b.length - a.length);
  return (s: string) => {
    let t = s;
    for (const secret of list) t = t.split(secret).join("[redacted]");
    return t.replace(/\b\d{5,}:[A-Za-z0-9_-]{20,}/g, "[redacted]");
  };
}

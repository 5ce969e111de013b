/**
 * The notify node's settings, as the editor saves them (strings, numbers or booleans, any of
 * them missing), turned into the Notifier's config; and the status the node shows.
 */
import type { NotifyConfig, SmtpSecurity, SubmitResult } from "./types";

export interface NotifySettings {
  name?: string;
  onFailure?: boolean;
  onWarning?: boolean;
  onDelay?: boolean;
  onInterrupted?: boolean;
  onSuccess?: boolean;
  onCancelled?: boolean;
  windowSeconds?: number | string;
  burst?: number | string;
  staleHours?: number | string;
  logLines?: number | string;
  chatId?: string;
  parseMode?: string;
  apiRoot?: string;
  smtpHost?: string;
  smtpPort?: number | string;
  smtpSecurity?: string;
  smtpFrom?: string;
  smtpTo?: string;
  allowSelfSigned?: boolean;
  subjectTemplate?: string;
  bodyTemplate?: string;
  telegramTemplate?: string;
  logLink?: string;
  /** When the digest goes out (the schedule node's forms, e.g. "daily at 08:00"); empty: only on msg.action "digest". */
  digestSchedule?: string;
}

/** The node's credentials (never in flows.json). */
export interface NotifyCredentials {
  botToken?: string;
  user?: string;
  password?: string;
  /** healthchecks-style or Uptime Kuma push URL: whoever has it can ping. */
  pingUrl?: string;
}

function number(v: unknown, def: number): number {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : def;
}

export function text(v: unknown): string {
  return typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "";
}

function flag(v: unknown, def: boolean): boolean {
  return typeof v === "boolean" ? v : v === "true" ? true : v === "false" ? false : def;
}

export function notifyConfig(def: NotifySettings, creds: NotifyCredentials | undefined, digestFile?: string): NotifyConfig {
  const security: SmtpSecurity = def.smtpSecurity === "tls" || def.smtpSecurity === "none" ? def.smtpSecurity : "starttls";
  const config: NotifyConfig = {
    name: def.name ?? "",
    policy: {
      onFailure: flag(def.onFailure, true),
      onWarning: flag(def.onWarning, true),
      onDelay: flag(def.onDelay, true),
      onInterrupted: flag(def.onInterrupted, true),
      onSuccess: flag(def.onSuccess, false),
      onCancelled: flag(def.onCancelled, false),
    },
    windowMs: Math.round(number(def.windowSeconds, 60) * 1000),
    burst: number(def.burst, 3),
    staleMs: Math.round(number(def.staleHours, 0) * 3600_000),
    logLines: number(def.logLines, 20),
    templates: {
      subject: def.subjectTemplate ?? "",
      body: def.bodyTemplate ?? "",
      telegram: def.telegramTemplate ?? "",
      logLink: def.logLink ?? "",
    },
  };
  const chatId = text(def.chatId);
  const token = text(creds?.botToken);
  if (chatId || token) {
    config.telegram = {
      token,
      chatId,
      parseMode: def.parseMode === "MarkdownV2" ? "MarkdownV2" : "HTML",
      ...(text(def.apiRoot) ? { apiRoot: text(def.apiRoot) } : {}),
    };
  }
  const host = text(def.smtpHost);
  const to = text(def.smtpTo);
  if (host || to) {
    const port = number(def.smtpPort, 0);
    config.email = {
      host,
      to,
      security,
      ...(port > 0 ? { port } : {}),
      ...(text(def.smtpFrom) ? { from: text(def.smtpFrom) } : {}),
      ...(text(creds?.user) ? { user: text(creds?.user), password: creds?.password ?? "" } : {}),
      tlsRejectUnauthorized: !flag(def.allowSelfSigned, false),
    };
  }
  if (text(creds?.pingUrl)) config.ping = { url: text(creds?.pingUrl) };
  if (text(def.digestSchedule) || digestFile) config.digest = { schedule: text(def.digestSchedule), ...(digestFile ? { file: digestFile } : {}) };
  return config;
}

export interface NotifyLook {
  fill?: "red" | "yellow" | "green" | "grey";
  shape?: "ring" | "dot";
  text?: string;
}

/** The node's status: settings first, then delivery, batching, what was sent. */
export function notifyLook(s: { problems: boolean; failing: boolean; held: number; sent: number; channels: number }): NotifyLook {
  if (s.problems) return { fill: "red", shape: "ring", text: "check settings" };
  if (s.failing) return { fill: "red", shape: "dot", text: "delivery failed" };
  if (s.held > 0) return { fill: "yellow", shape: "ring", text: `batching ${s.held}` };
  if (s.sent > 0) return { fill: "green", shape: "dot", text: `sent ${s.sent}` };
  if (s.channels === 0) return { fill: "grey", shape: "ring", text: "output only" };
  return {};
}

/** The job a `forget` message names: payload.jobId, payload.job, the payload, or the topic. */
export function forgetTarget(m: { payload?: unknown; topic?: unknown }): string {
  const p = m.payload as { jobId?: unknown; job?: unknown } | undefined;
  return text(p && typeof p === "object" ? p.jobId ?? p.job : m.payload) || text(m.topic);
}

/** Why a submitted message failed (invalid input or delivery), or null when nothing failed. */
export function submitError(r: SubmitResult): string | null {
  if (r.state === "invalid") return r.error;
  if (r.state !== "sent" && r.state !== "failed") return null;
  const { failures, notification } = r.delivery;
  if (failures.length === 0) return null;
  const by = r.state === "sent" ? ` by ${failures.map((f) => f.channel).join(" and ")}` : "";
  return `The notification "${notification.subject}" was not sent${by}: ${failures.map((f) => f.error).join(" ")}`;
}

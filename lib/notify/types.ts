// Shapes shared by the notify engine. No Node-RED here: the node wrapper maps its config onto these.

/** What a run ended with (the run nodes' `status`). */
export type RunStatus = "success" | "warning" | "failed" | "cancelled" | "interrupted";
/** Everything the notifier can tell about: a run's end, a conflict delay, or a job gone stale. */
export type Outcome = RunStatus | "delayed" | "stale";

export const OUTCOMES: readonly Outcome[] = ["failed", "interrupted", "warning", "stale", "delayed", "cancelled", "success"];

/** One thing worth telling, normalised from a result message (or made by the staleness check). */
export interface NotifyEvent {
  outcome: Outcome;
  job: string;
  jobId: string;
  /** When it happened (epoch ms): finishedAt, else the time it was seen. */
  at: number;
  runId?: string;
  engine?: string;
  command?: string;
  startedAt?: number;
  finishedAt?: number;
  durationMs?: number;
  exitCode?: number;
  filesTotal?: number;
  filesChanged?: number;
  bytesTotal?: number;
  bytesTransferred?: number;
  snapshotId?: string;
  error?: string;
  /** delayed: how long the job has waited so far. */
  waitedMs?: number;
  /** delayed: what it waits for, when the gate says. */
  reason?: string;
  /** stale: time since the last successful backup (or since the job was first seen). */
  sinceMs?: number;
  lastSuccessAt?: number;
  logTail: string[];
  logUrl?: string;
  /** The log file on the Node-RED host, when no URL is known. */
  logFile?: string;
}

export interface Policy {
  onFailure: boolean;
  onWarning: boolean;
  onDelay: boolean;
  onInterrupted: boolean;
  onSuccess: boolean;
  onCancelled: boolean;
}

export const DEFAULT_POLICY: Readonly<Policy> = {
  onFailure: true,
  onWarning: true,
  onDelay: true,
  onInterrupted: true,
  onSuccess: false,
  onCancelled: false,
};

export type ParseMode = "HTML" | "MarkdownV2";

export interface TelegramConfig {
  token: string;
  chatId: string | number;
  /** Bot API root; a self-hosted Bot API server or a test stand-in. */
  apiRoot?: string;
  parseMode?: ParseMode;
}

export type SmtpSecurity = "starttls" | "tls" | "none";

export interface EmailConfig {
  host: string;
  /** Defaults: 587 for starttls, 465 for tls, 25 for none. */
  port?: number;
  security?: SmtpSecurity;
  from?: string;
  /** One address or several, comma separated. */
  to: string;
  user?: string;
  password?: string;
  /** false accepts self-signed or otherwise untrusted server certificates. */
  tlsRejectUnauthorized?: boolean;
}

export interface Templates {
  /** Email subject of a single notification. */
  subject?: string;
  /** Email body (plain text). */
  body?: string;
  /** Telegram text, in the configured parse mode. */
  telegram?: string;
  /** Where the full log is, when the message does not say: e.g. `https://nr.lan/#highball/runs/{{runId}}`. */
  logLink?: string;
}

export interface RetryOptions {
  /** Attempts per channel and notification, the first included. */
  attempts?: number;
  /** First backoff wait; doubles per attempt. */
  baseMs?: number;
  maxMs?: number;
  /** A 429 asking for a longer wait than this gives up instead of holding the queue. */
  maxRetryAfterMs?: number;
  /** Per attempt. */
  timeoutMs?: number;
}

export interface NotifyConfig {
  /** Shown in test messages; the Node-RED node's name. */
  name?: string;
  policy?: Partial<Policy>;
  /** Batching window; 0 sends everything at once. */
  windowMs?: number;
  /** Prompt (unbatched) notifications allowed per window before new kinds are held too. */
  burst?: number;
  /** Alert when a job seen before has had no successful backup for this long; 0 = off. */
  staleMs?: number;
  telegram?: TelegramConfig;
  email?: EmailConfig;
  templates?: Templates;
  /** Log lines quoted per notification. */
  logLines?: number;
  retry?: RetryOptions;
  /** Host name shown in messages ({{host}}). */
  host?: string;
  /** A healthchecks-style or Uptime Kuma push URL pinged at each run's start and end (a secret). */
  ping?: { url: string };
  /** The digest: its schedule (the schedule node's forms; empty: only on msg.action "digest") and where it keeps its count. */
  digest?: { schedule?: string; timezone?: string; file?: string };
}

export type Channel = "telegram" | "email" | "ping";

/** A notification rendered for every channel. */
export interface Rendered {
  subject: string;
  body: string;
  telegram: { text: string; parseMode?: ParseMode };
  /** Short plain text for the node's output (a dashboard toast). */
  short: string;
}

/** One group of a batch: how many times one kind of thing happened. */
export interface GroupInfo {
  outcome: Outcome;
  job: string;
  jobId: string;
  count: number;
  error?: string;
  runId?: string;
}

/** What the notifier tells its listeners about a notification. */
export interface NotificationInfo {
  kind: "single" | "digest" | "test";
  /** The most severe outcome in it. */
  outcome: Outcome;
  job?: string;
  jobId?: string;
  runId?: string;
  /** Events it covers. */
  count: number;
  groups: GroupInfo[];
  subject: string;
  short: string;
  /** A digest's full text (the node's output payload). */
  text?: string;
  /** A digest's period and per-job figures. */
  report?: { since: number; until: number; jobs: unknown[]; totals: Partial<Record<RunStatus, number>> };
}

export interface ChannelFailure {
  channel: Channel;
  /** A plain sentence, free of secrets. */
  error: string;
  attempts: number;
}

export interface Delivery {
  notification: NotificationInfo;
  /** Channels that took it. Empty when no channel is configured (the output alone is the notification). */
  channels: Channel[];
  failures: ChannelFailure[];
}

export type SubmitResult =
  | { state: "invalid"; error: string }
  | { state: "ignored"; reason: string }
  | { state: "held"; held: number }
  | { state: "sent"; delivery: Delivery }
  | { state: "failed"; delivery: Delivery; error: string };

export interface StaleEntry {
  jobId: string;
  job: string;
  firstSeenAt: number;
  lastSuccessAt?: number;
  alertedAt?: number;
}

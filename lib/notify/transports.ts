// Telegram (telegraf's Telegram client) and email (nodemailer) senders. Each failure becomes a
// DeliveryError: a plain sentence free of secrets, and whether trying again can help.
import nodemailer from "nodemailer";
import { Telegram } from "telegraf";
import type { Channel, EmailConfig, Rendered, TelegramConfig } from "./types";
import { clip } from "./format";

export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The server said how long to wait (Telegram 429 retry_after). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "DeliveryError";
  }
}

export interface Transport {
  readonly channel: Channel;
  send(message: Rendered, signal: AbortSignal): Promise<void>;
  close(): void;
}

function field(e: unknown, key: string): unknown {
  return e && typeof e === "object" ? (e as Record<string, unknown>)[key] : undefined;
}

function sentenceEnd(s: string): string {
  const t = s.trim();
  return /[.!?…]$/.test(t) ? t : `${t}.`;
}

// nodemailer's own codes wrap the system one (kept in originalCode), which says more.
const WRAPPER_CODES = new Set(["ESOCKET", "ECONNECTION", "EENVELOPE", "EMESSAGE", "ESTREAM", "EPROTOCOL", "EAUTH", "ETLS", "ECONFIG"]);

/** The system error code of a network failure, found on the error or its cause. */
function netCode(e: unknown): string | undefined {
  for (let cur: unknown = e, i = 0; cur && i < 4; cur = field(cur, "cause"), i++) {
    for (const key of ["originalCode", "code", "errno"]) {
      const code = field(cur, key);
      if (typeof code === "string" && /^E[A-Z_]+$/.test(code) && !WRAPPER_CODES.has(code)) return code;
    }
  }
  return undefined;
}

function isAbort(e: unknown): boolean {
  return field(e, "name") === "AbortError" || field(e, "type") === "aborted" || field(e, "code") === "EABORT";
}

// telegraf types its signal with the abort-controller polyfill; node-fetch takes the native one.
type CallOptions = NonNullable<Parameters<Telegram["callApi"]>[2]>;

function chatIdOf(id: string | number): string | number {
  const s = String(id).trim();
  return /^-?\d{1,15}$/.test(s) ? Number(s) : s;
}

export class TelegramTransport implements Transport {
  readonly channel = "telegram" as const;
  private readonly client: Telegram;
  private readonly origin: string;

  constructor(private readonly cfg: TelegramConfig, private readonly redact: (s: string) => string, private readonly timeoutMs: number) {
    const apiRoot = cfg.apiRoot?.trim() || "https://api.telegram.org";
    this.client = new Telegram(cfg.token, { apiRoot });
    this.origin = safeOrigin(apiRoot);
  }

  async send(message: Rendered, signal: AbortSignal): Promise<void> {
    const { text, parseMode } = message.telegram;
    try {
      await this.post(text, parseMode, signal);
    } catch (e) {
      // A template with broken markup must not cost the alert: resend it as plain text.
      if (parseMode && field(e, "code") === 400 && /can't parse entities/i.test(String(field(e, "description")))) {
        try {
          await this.post(clip(message.body, 4096), undefined, signal);
          return;
        } catch (e2) {
          throw this.classify(e2, signal);
        }
      }
      throw this.classify(e, signal);
    }
  }

  private async post(text: string, parseMode: string | undefined, signal: AbortSignal): Promise<void> {
    await this.client.callApi("sendMessage", {
      chat_id: chatIdOf(this.cfg.chatId),
      text,
      ...(parseMode ? { parse_mode: parseMode as "HTML" | "MarkdownV2" } : {}),
      link_preview_options: { is_disabled: true },
    }, { signal: signal as unknown as CallOptions["signal"] });
  }

  private classify(e: unknown, signal: AbortSignal): DeliveryError {
    const code = field(e, "code");
    const description = this.redact(String(field(e, "description") ?? ""));
    if (typeof code === "number" && field(e, "response")) {
      const chat = this.redact(String(this.cfg.chatId));
      if (code === 429) {
        const after = Number(field(field(e, "parameters"), "retry_after"));
        return new DeliveryError("Telegram is rate-limiting this bot (429 Too Many Requests).", true,
          Number.isFinite(after) && after >= 0 ? after * 1000 : undefined);
      }
      if (code === 401) return new DeliveryError("Telegram rejected the bot token (401 Unauthorized): check the token in the node's settings.", false);
      if (code === 404) return new DeliveryError("Telegram answered 404 Not Found: the bot token or the API address is wrong.", false);
      if (code === 403) return new DeliveryError(`Telegram refused to post to chat ${chat}: ${sentenceEnd(clip(description, 200))}`, false);
      if (code === 400) return new DeliveryError(`Telegram could not deliver to chat ${chat}: ${sentenceEnd(clip(description, 200))}`, false);
      if (code >= 500) return new DeliveryError(`The Telegram API answered ${code}${description ? ` ${clip(description, 100)}` : ""}.`, true);
      return new DeliveryError(`Telegram refused the message (${code}${description ? `: ${clip(description, 200)}` : ""}).`, false);
    }
    if (isAbort(e)) {
      return signal.aborted && signal.reason instanceof Error && signal.reason.name === "ShutdownError"
        ? new DeliveryError("Sending to Telegram was stopped because the node was closed.", false)
        : new DeliveryError(`The Telegram API at ${this.origin} did not answer within ${Math.round(this.timeoutMs / 1000)} s.`, true);
    }
    if (field(e, "type") === "invalid-json") {
      return new DeliveryError(`The Telegram API at ${this.origin} answered with something that is not the Bot API (no JSON).`, true);
    }
    const net = netCode(e);
    // Never quote the client's own message: it may carry the request URL, and with it the token.
    return new DeliveryError(`Could not reach the Telegram API at ${this.origin}${net ? ` (${net})` : ""}.`, true);
  }

  close(): void {
    /* stateless HTTP client */
  }
}

function safeOrigin(apiRoot: string): string {
  try {
    return new URL(apiRoot).origin;
  } catch {
    return "(invalid API address)";
  }
}

const DEFAULT_PORT = { starttls: 587, tls: 465, none: 25 } as const;

export class EmailTransport implements Transport {
  readonly channel = "email" as const;
  private readonly mailer: ReturnType<typeof nodemailer.createTransport>;
  private readonly where: string;
  private readonly from: string;

  constructor(private readonly cfg: EmailConfig, private readonly redact: (s: string) => string, private readonly timeoutMs: number, host: string) {
    const security = cfg.security ?? "starttls";
    const port = cfg.port && cfg.port > 0 ? cfg.port : DEFAULT_PORT[security];
    this.where = `${cfg.host}:${port}`;
    this.from = cfg.from?.trim() || (cfg.user && cfg.user.includes("@") ? cfg.user : `highball@${host || "localhost"}`);
    this.mailer = nodemailer.createTransport({
      host: cfg.host,
      port,
      secure: security === "tls",
      requireTLS: security === "starttls",
      ignoreTLS: security === "none",
      auth: cfg.user ? { user: cfg.user, pass: cfg.password ?? "" } : undefined,
      tls: { rejectUnauthorized: cfg.tlsRejectUnauthorized !== false },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      logger: false,
      debug: false,
    });
  }

  async send(message: Rendered, signal: AbortSignal): Promise<void> {
    try {
      await this.mailer.sendMail({ from: this.from, to: this.cfg.to, subject: message.subject, text: message.body, signal });
    } catch (e) {
      throw this.classify(e, signal);
    }
  }

  private classify(e: unknown, signal: AbortSignal): DeliveryError {
    const code = String(field(e, "code") ?? "");
    const responseCode = Number(field(e, "responseCode"));
    const response = this.redact(clip(String(field(e, "response") ?? "").replace(/\s+/g, " "), 200));
    const message = this.redact(String(field(e, "message") ?? ""));
    const quoted = response ? ` (${response})` : "";
    if (isAbort(e)) {
      return signal.aborted && signal.reason instanceof Error && signal.reason.name === "ShutdownError"
        ? new DeliveryError("Sending the email was stopped because the node was closed.", false)
        : new DeliveryError(`The SMTP server ${this.where} did not answer within ${Math.round(this.timeoutMs / 1000)} s.`, true);
    }
    if (/certificate|self[- ]signed|CERT_|unable to verify/i.test(message) || /CERT|SELF_SIGNED/.test(netCode(e) ?? "")) {
      return new DeliveryError(`The TLS certificate of the SMTP server ${this.where} is not trusted (${clip(message, 80)}): allow self-signed certificates if you expect this one.`, false);
    }
    if (code === "EAUTH") return new DeliveryError(`The SMTP server ${this.where} refused the login${quoted}: check the user and password.`, false);
    if (code === "ETLS") return new DeliveryError(`The SMTP server ${this.where} could not start TLS${quoted}: check the security setting.`, false);
    if (code === "EENVELOPE") return new DeliveryError(`The SMTP server ${this.where} refused the sender or recipients${quoted}.`, responseCode >= 400 && responseCode < 500);
    if (code === "ECONFIG") return new DeliveryError(`The email settings are incomplete or invalid: ${sentenceEnd(clip(message, 150))}`, false);
    if (responseCode >= 400 && responseCode < 500) return new DeliveryError(`The SMTP server ${this.where} deferred the message${quoted}.`, true);
    if (responseCode >= 500) return new DeliveryError(`The SMTP server ${this.where} refused the message${quoted}.`, false);
    const net = netCode(e);
    if (code === "ECONNECTION" || code === "ESOCKET" || code === "ETIMEDOUT" || code === "EDNS" || net) {
      return new DeliveryError(`Could not connect to the SMTP server ${this.where}${net && net !== code ? ` (${net})` : code ? ` (${code})` : ""}.`, true);
    }
    return new DeliveryError(`Sending the email through ${this.where} failed: ${sentenceEnd(clip(message || "unknown error", 200))}`, true);
  }

  close(): void {
    this.mailer.close();
  }
}

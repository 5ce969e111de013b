/**
 * restic's output, line by line: JSON status and summary lines (backup --json), JSON results
 * of snapshots/stats/forget, JSON errors on stderr, and restic's plain-text fatal messages,
 * read the same for 0.14 to 0.19, so one job gives the same status and sentences on each:
 * - exit codes: 0.14 says 1 for most failures; 0.17 adds 10 (no repository) and 11 (locked),
 *   0.17.1 12 (wrong password); 0.19 says 3, not 0, when a source path does not exist;
 * - errors: 0.18+ sends fatal errors as {"message_type":"exit_error"} JSON on stderr with --json,
 *   and per-file errors as {"error":{"message"}} where 0.14-0.17 marshal Go's error value;
 * - backup summaries: 0.16+ give the full snapshot id, 0.18+ add data_added_packed,
 *   backup_start and backup_end (kept as they are in details.summary).
 */
import { type OutputParser, type Outcome, type Progress, type RunStats, emptyStats } from "./types";
import { parseLockInfo, type LockInfo } from "./restic-lock";

/** Non-JSON lines kept as context for an error. */
const RING = 50;
/** Per-file errors kept in details. */
const MAX_ERRORS = 20;
/** JSON results (snapshots, forget, stats) kept in details up to about this size. */
const MAX_RESULT_CHARS = 256 * 1024;
/** A JSON line longer than this may have been cut by the line splitter; its parts are joined. */
const SPLIT_HINT = 16 * 1024;
const MAX_JOINED = 8 * 1024 * 1024;

/** Commands whose successful run must end with a summary line. */
const NEEDS_SUMMARY = new Set(["backup"]);

export interface ResticFileError { item: string; message: string; during: string | null }

export interface ResticParserOptions {
  /** The repository as shown to people (no secrets), for "no repository at ..." sentences. */
  repository?: string;
  /** The restic release that runs ("0.19.1"), kept in details.restic.version. */
  version?: string;
}

type Json = Record<string, unknown>;

/** A cut JSON line waiting for its next part. */
const PENDING = Symbol("pending");

const ERRNO: Record<number, string> = {
  1: "operation not permitted", 2: "no such file or directory", 5: "input/output error",
  13: "permission denied", 20: "not a directory", 21: "is a directory", 24: "too many open files",
  36: "file name too long", 40: "too many levels of symbolic links", 61: "no data available", 95: "operation not supported",
};

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * The words of a per-file error without the file's own path: 0.18+ say "open /data/x:
 * permission denied" or "failed to save /data/x: read /data/x: input/output error" where
 * 0.14 gave {"Op":"open","Err":13}; both read "open: permission denied" here.
 */
function withoutItem(text: string, item: string): string {
  if (!item) return text;
  return text.split(` ${item}:`).join(":").replace(/^failed to save: /, "");
}

/** 0.14-0.17 marshal Go's error value ({"Op","Path","Err"} or {}); 0.18 sends {"message"}; check sends "message". */
function errorText(m: Json): string {
  const e = m.error;
  const item = typeof m.item === "string" ? m.item : "";
  if (typeof e === "string") return withoutItem(e, item);
  if (e && typeof e === "object") {
    const o = e as Json;
    if (typeof o.message === "string") return withoutItem(o.message, item);
    const op = typeof o.Op === "string" ? o.Op : null;
    const errno = typeof o.Err === "number" ? (ERRNO[o.Err] ?? `error ${o.Err}`) : typeof o.Err === "string" ? o.Err : null;
    if (op || errno) return [op, errno].filter(Boolean).join(": ");
  }
  if (typeof m.message === "string") return m.message;
  return "unknown error";
}

function bounded(value: unknown): { value: unknown; count?: number; truncated?: boolean } {
  if (JSON.stringify(value).length <= MAX_RESULT_CHARS) return { value };
  if (Array.isArray(value)) {
    // snapshots are listed oldest first: the newest are the ones worth keeping.
    let keep = Math.min(value.length, 200);
    let slice = value.slice(-keep);
    while (keep > 1 && JSON.stringify(slice).length > MAX_RESULT_CHARS) {
      keep = Math.floor(keep / 2);
      slice = value.slice(-keep);
    }
    return { value: slice, count: value.length, truncated: true };
  }
  return { value: null, truncated: true };
}

export class ResticParser implements OutputParser {
  private progress: Progress | null = null;
  private summary: Json | null = null;
  private exitError: { code: number | null; message: string } | null = null;
  private readonly fileErrors: ResticFileError[] = [];
  private errorCount = 0;
  private readonly ring: string[] = [];
  private readonly fatal: string[] = [];
  private readonly skipped: string[] = [];
  private lockText: string[] | null = null;
  private results: unknown[] = [];
  private resultsTruncated = false;
  private partial: string | null = null;
  private statusLines = 0;
  private openRetries = 0;
  private givenUp: string | null = null;

  constructor(readonly command: string, private readonly opts: ResticParserOptions = {}) {}

  stdout(line: string): void {
    const json = this.json(line);
    if (json === PENDING) return;
    if (json === undefined) { this.text(line, "stdout"); return; }
    if (Array.isArray(json) || typeof json !== "object" || json === null) { this.result(json); return; }
    const m = json as Json;
    switch (m.message_type) {
      case "status": this.status(m); return;
      case "verbose_status": return;
      case "summary": this.summary = m; return;
      case "error": this.fileError(m); return;
      case "exit_error": this.exitError = { code: num(m.code), message: String(m.message ?? "") }; return;
      default: this.result(m);
    }
  }

  stderr(line: string): void {
    const t = line.trim();
    if (t.startsWith("{") && t.endsWith("}")) {
      try {
        const m = JSON.parse(t) as Json;
        if (m.message_type === "error") { this.fileError(m); return; }
        if (m.message_type === "exit_error") {
          this.exitError = { code: num(m.code), message: String(m.message ?? "") };
          for (const l of this.exitError.message.split("\n")) this.text(l, "stderr");
          return;
        }
      } catch { /* plain text after all */ }
    }
    this.text(line, "stderr");
  }

  hopeless(): boolean {
    return this.givenUp !== null;
  }

  takeProgress(): Progress | null {
    const p = this.progress;
    this.progress = null;
    return p;
  }

  /** Parsed JSON, or undefined when the line is not JSON. Joins a long line the splitter cut. */
  private json(line: string): unknown | typeof PENDING {
    if (this.partial !== null) {
      const joined = this.partial + line;
      try {
        this.partial = null;
        return JSON.parse(joined);
      } catch {
        if (line.length >= SPLIT_HINT && joined.length < MAX_JOINED) { this.partial = joined; return PENDING; }
        this.resultsTruncated = true;
        return undefined;
      }
    }
    const t = line.trimStart();
    if (!t.startsWith("{") && !t.startsWith("[")) return undefined;
    try {
      return JSON.parse(t);
    } catch {
      if (line.length >= SPLIT_HINT) { this.partial = line; return PENDING; }
      return undefined;
    }
  }

  private status(m: Json): void {
    if (m.action !== undefined) return; // 0.14 sends scan_finished as a "status"
    this.statusLines++;
    const fraction = num(m.percent_done);
    // restic omits zero counters (omitempty); a status line with percent_done has them all.
    const zero = fraction !== null ? 0 : null;
    const bytesDone = num(m.bytes_done) ?? num(m.bytes_restored) ?? zero;
    const elapsed = num(m.seconds_elapsed);
    const total = num(m.total_bytes);
    this.progress = {
      percent: fraction === null ? null : Math.round(fraction * 10000) / 100,
      bytesDone,
      bytesTotal: total,
      filesDone: num(m.files_done) ?? num(m.files_restored) ?? zero,
      filesTotal: num(m.total_files),
      rate: bytesDone !== null && elapsed !== null && elapsed > 0 ? Math.round(bytesDone / elapsed) : null,
      etaSeconds: num(m.seconds_remaining),
    };
  }

  private fileError(m: Json): void {
    this.errorCount++;
    const item = typeof m.item === "string" ? m.item : "";
    const e = { item, message: errorText(m), during: typeof m.during === "string" ? m.during : null };
    if (this.fileErrors.length < MAX_ERRORS) this.fileErrors.push(e);
  }

  private result(value: unknown): void {
    if (this.results.length < 20) this.results.push(value);
    else this.resultsTruncated = true;
  }

  private text(line: string, stream: "stdout" | "stderr"): void {
    const t = line.trimEnd();
    if (!t.trim()) return;
    if (this.ring.length >= RING) this.ring.shift();
    this.ring.push(t);
    if (stream !== "stderr") return;
    if (/already locked/.test(t)) this.lockText = [t];
    else if (this.lockText && this.lockText.length < 6) this.lockText.push(t);
    if (/^Fatal: /.test(t) || /^(unable to|Resolving password failed|error: )/.test(t)) {
      if (this.fatal.length >= 10) this.fatal.shift();
      this.fatal.push(t);
    }
    const verdict = openRetry(t);
    if (verdict && this.givenUp === null) {
      this.openRetries++;
      if (verdict === "certificate" || this.openRetries >= OPEN_RETRIES) this.givenUp = reachFailure(t, this.opts.repository) ?? "the repository server cannot be reached";
    }
    const skip = /^(.*) does not exist, skipping$/.exec(t);
    if (skip && this.skipped.length < 100) this.skipped.push(skip[1]!);
  }

  private stats(): RunStats {
    const s = this.summary;
    if (!s || this.command !== "backup") return emptyStats();
    const fnew = num(s.files_new) ?? 0;
    const fchanged = num(s.files_changed) ?? 0;
    return {
      filesTotal: num(s.total_files_processed) ?? 0,
      filesChanged: fnew + fchanged,
      bytesTotal: num(s.total_bytes_processed) ?? 0,
      bytesTransferred: num(s.data_added) ?? 0,
      snapshotId: typeof s.snapshot_id === "string" && s.snapshot_id ? s.snapshot_id : null,
    };
  }

  private details(exitCode: number | null, lock: LockInfo | null): Record<string, unknown> {
    const d: Record<string, unknown> = { restic: { command: this.command, exitCode, ...(this.opts.version ? { version: this.opts.version } : {}) } };
    if (this.summary) d.summary = this.summary;
    if (this.errorCount) { d.errors = this.fileErrors; d.errorCount = this.errorCount; }
    if (this.skipped.length) d.skipped = this.skipped;
    if (lock) d.lock = lock;
    if (this.results.length) {
      const main = this.results.length === 1 ? this.results[0] : this.results;
      const b = bounded(main);
      d.result = b.value;
      if (b.count !== undefined) d.resultCount = b.count;
      if (b.truncated || this.resultsTruncated) d.resultTruncated = true;
    }
    if (this.exitError) d.exitError = this.exitError;
    if (this.ring.length) d.output = [...this.ring];
    return d;
  }

  private allText(): string {
    return [...this.ring, this.exitError?.message ?? ""].join("\n");
  }

  private repositoryLocation(): string {
    const lines = this.allText().split("\n");
    const i = lines.findIndex((l) => /Is there a repository at the following location\?/.test(l));
    if (i >= 0 && lines[i + 1]?.trim()) return lines[i + 1]!.trim();
    const stat = /unable to open config file: (?:stat|Stat\(\)?:?) ?(\S+?)\/config\b/.exec(this.allText());
    if (stat) return stat[1]!;
    return this.opts.repository ?? "the configured location";
  }

  private lastFatal(): string | null {
    const exit = this.exitError?.message.split("\n").find((l) => l.trim());
    const line = this.fatal[this.fatal.length - 1] ?? exit ?? null;
    return line ? line.replace(/^Fatal: /, "").trim() : null;
  }

  finish(exitCode: number | null, signal: string | null): Outcome {
    const text = this.allText();
    const lockInfo = this.lockText || /already locked/.test(text) ? parseLockInfo((this.lockText ?? []).join("\n") || text) : null;
    const stats = this.stats();
    const details = this.details(exitCode, lockInfo);
    const failed = (error: string): Outcome => ({ status: "failed", error, stats, details });

    if (this.givenUp !== null) return failed(this.givenUp);
    if (exitCode === null) return failed(`restic was stopped by ${signal ?? "a signal"}`);
    if (exitCode === 130) return failed("restic was interrupted");

    if (exitCode === 11 || (exitCode !== 0 && lockInfo) || (exitCode === 1 && /already locked/.test(text))) {
      if (lockInfo) {
        const ago = lockInfo.age !== null ? `, created ${humanAge(lockInfo.age)} ago` : "";
        return failed(`the repository is locked by another restic process (PID ${lockInfo.pid} on ${lockInfo.host} by ${lockInfo.user}${ago}); if that process is gone, "restic unlock" removes the stale lock`);
      }
      return failed("the repository is locked by another restic process");
    }
    if (exitCode === 12 || (exitCode !== 0 && /wrong password or no key found/.test(text))) {
      return failed("wrong repository password: no key in the repository opens with it");
    }
    if (exitCode !== 0) {
      const reach = reachFailure(text, this.opts.repository);
      if (reach) return failed(reach);
    }
    if (exitCode === 10 || (exitCode !== 0 && /unable to open config file|Is there a repository at the following location\?|repository does not exist/.test(text))) {
      return failed(`no restic repository at ${this.repositoryLocation()} (initialize it with "restic init" or check the repository setting)`);
    }
    if (exitCode !== 0) {
      const pw = /Resolving password failed: (.*)/.exec(text);
      if (pw) return failed(`the repository password could not be read: ${pw[1]!.replace(/^Fatal: /, "")}`);
      if (this.command === "init" && /config file already exists/.test(text)) {
        return failed(`a restic repository already exists at ${this.opts.repository ?? "the configured location"}; it was left as it is`);
      }
    }

    const missing = this.skipped.length ? `the source path ${this.skipped.join(", ")} does not exist` : null;
    const saved = stats.snapshotId ? `snapshot ${stats.snapshotId.slice(0, 8)} was saved without ${missing && !this.errorCount ? "it" : "them"}` : null;
    if (exitCode === 3 && this.command === "backup") {
      // 0.19 also exits 3 when a source path is missing, where 0.14-0.18 exit 0 (below).
      if (!this.errorCount && missing) return { status: "warning", error: `${missing}; ${saved ?? "no snapshot was saved"}`, stats, details };
      const n = this.errorCount;
      const first = this.fileErrors[0];
      const example = first ? `, e.g. ${first.item}: ${first.message}` : "";
      const also = missing ? `; ${missing}` : "";
      return { status: "warning", error: `some source files could not be read (${n || "some"} error${n === 1 ? "" : "s"}${example})${also}${saved ? `; ${saved}` : ""}`, stats, details };
    }

    if (exitCode === 0) {
      if (NEEDS_SUMMARY.has(this.command) && !this.summary) return failed("restic ended without a summary");
      if (this.command === "backup" && missing) {
        return { status: "warning", error: `${missing}; ${saved ?? "the snapshot was saved without it"}`, stats, details };
      }
      return { status: "success", error: null, stats, details };
    }

    const why = this.lastFatal() ?? this.ring.filter((l) => !l.startsWith("{")).slice(-1)[0] ?? null;
    if (exitCode === 2) return failed(`restic crashed (Go runtime error)${why ? `: ${why}` : ""}`);
    return failed(why ? `restic ${this.command} failed: ${why}` : `restic ${this.command} failed with exit code ${exitCode}`);
  }
}

/** restic's retries of opening a repository that are waited out before it is called unreachable. */
export const OPEN_RETRIES = 3;

/**
 * restic 0.16+ retry a failed request for up to 15 minutes, saying so on stderr:
 * "Stat(<config/>) returned error, retrying after 1.7s: Head ...: dial tcp ...: connection refused".
 * While restic opens the repository (its config or keys), an untrusted certificate never heals
 * ("certificate": give up at once) and a server that did not answer OPEN_RETRIES tries is
 * reported rather than waited on for a quarter of an hour ("network"; restic 0.14 gave up at
 * the first). Retries later in a run (a backup's uploads) are restic's business and left alone.
 */
export function openRetry(line: string): "certificate" | "network" | null {
  if (!/^(Stat|Load|List|ReadDir)\(<(config|key)\b[^>]*>[^)]*\) returned error, retrying after /.test(line)) return null;
  if (/x509:|tls: failed to verify|certificate signed by unknown authority|certificate is not valid/i.test(line)) return "certificate";
  if (/connection refused|no such host|i\/o timeout|network is unreachable|no route to host|connection reset by peer|TLS handshake timeout/i.test(line)) return "network";
  return null;
}

/**
 * A repository restic could not reach or was refused by, as a sentence (null: not that). Every
 * version says these in its own words; restic masks a URL's password as "***" itself.
 */
export function reachFailure(text: string, repository: string | undefined): string | null {
  const where = repository ?? "the repository";
  if (/x509:|certificate signed by unknown authority|certificate is not valid|tls: failed to verify/i.test(text)) {
    return `the server of ${where} presented a certificate that is not trusted; give its CA certificate in the profile's cacert option (restic --cacert)`;
  }
  if (/\b401 Unauthorized\b|unexpected HTTP response \(401\)/.test(text)) {
    return `the server of ${where} refused the user name or password (401 Unauthorized); check the REST server's user and password`;
  }
  if (/\b403 Forbidden\b|unexpected HTTP response \(403\)/.test(text)) return `the server of ${where} refused access (403 Forbidden)`;
  const net = /(connection refused|no such host|i\/o timeout|network is unreachable|no route to host|connection reset by peer)/i.exec(text);
  if (net && /dial tcp|Head "|Get "|Post "|lookup |client\.|rest|https?:/i.test(text)) {
    return `the server of ${where} cannot be reached (${net[1]!.toLowerCase()})`;
  }
  return null;
}

function humanAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/**
 * PRestic's profile options, typed. A profile keeps them under PRestic's own names; values
 * come as INI text or as JSON (the editor), and both are read by the same rules here.
 */
import type { Priority } from "../engines/types";
import { splitWords, WordsError } from "./words";

export type OptionKind =
  | "str" | "int" | "bool" | "list" | "words" | "size" | "duration" | "priority" | "port" | "bwlimit" | "regex" | "within";

export interface OptionSpec {
  kind: OptionKind;
  /** What the option is for, shown in the editor. */
  help: string;
  /** Only for `int`: the allowed range. */
  min?: number;
  max?: number;
  secret?: boolean;
}

/** Every option a profile may set (plus free `env.*` and `flag.*` keys). */
export const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  inherit: { kind: "list", help: "profiles to inherit from; the first named wins over later ones" },
  description: { kind: "str", help: "human-readable description" },
  repository: { kind: "str", help: "restic repository (path or URL)" },
  "repository-file": { kind: "str", help: "file holding the repository location" },
  password: { kind: "str", help: "repository password (kept as a Node-RED credential)", secret: true },
  "password-file": { kind: "str", help: "file holding the repository password" },
  "password-command": { kind: "words", help: "command printing the repository password (run without a shell)" },
  "password-keyring": { kind: "str", help: "PRestic OS keyring entry (not readable here: enter the password instead)" },
  "key-hint": { kind: "str", help: "ID of the key to try first" },
  "rest-password": { kind: "str", help: "password of the REST server's user named in the repository URL (kept as a Node-RED credential)", secret: true },
  "rest-password-file": { kind: "str", help: "file holding the password of the REST server's user named in the repository URL" },
  cacert: { kind: "str", help: "CA certificate file that signed the repository server's certificate (restic --cacert)" },
  executable: { kind: "words", help: "restic program (and extra global flags)" },
  command: { kind: "list", help: "default restic command (and its first arguments)" },
  args: { kind: "list", help: "arguments of the default command" },
  schedule: { kind: "str", help: "when the default command runs (\"daily at 02:00\", cron, ...)" },
  notifications: { kind: "bool", help: "send non-essential notifications (errors are always sent)" },
  "wait-for-lock": { kind: "duration", help: "how long to wait for a locked repository (\"10m\"; a bare number is seconds)" },
  "cpu-priority": { kind: "priority", help: "CPU priority: idle, low, normal or high" },
  "io-priority": { kind: "priority", help: "disk I/O priority: idle, low, normal or high" },
  "limit-upload": { kind: "size", help: "upload limit (\"2M\"; a bare number is KiB/s)" },
  "limit-download": { kind: "size", help: "download limit (\"2M\"; a bare number is KiB/s)" },
  verbose: { kind: "int", help: "restic verbosity 0-3", min: 0, max: 3 },
  option: { kind: "list", help: "extended options key=value (restic -o)" },
  "cache-dir": { kind: "str", help: "restic cache directory" },
  "log-filter": { kind: "regex", help: "log lines matching this expression are left out of the log" },
  "prune-logs-after": { kind: "int", help: "delete run logs older than this many days (never those of failed runs)", min: 0, max: 36500 },
  // The keep policy of forget (restic --keep-*): used by the Snapshots tab's forget and by any
  // forget of this profile that names no policy of its own.
  "keep-last": { kind: "int", help: "forget keeps the last n snapshots", min: 0, max: 100000 },
  "keep-hourly": { kind: "int", help: "forget keeps the last snapshot of each of the last n hours", min: 0, max: 100000 },
  "keep-daily": { kind: "int", help: "forget keeps the last snapshot of each of the last n days", min: 0, max: 100000 },
  "keep-weekly": { kind: "int", help: "forget keeps the last snapshot of each of the last n weeks", min: 0, max: 100000 },
  "keep-monthly": { kind: "int", help: "forget keeps the last snapshot of each of the last n months", min: 0, max: 100000 },
  "keep-yearly": { kind: "int", help: "forget keeps the last snapshot of each of the last n years", min: 0, max: 100000 },
  "keep-within": { kind: "within", help: "forget keeps every snapshot younger than this (\"1y6m\", \"30d\", \"12h\")" },
  "keep-tag": { kind: "list", help: "forget keeps every snapshot with one of these tags" },
  // rsync-side keys, so one base profile can serve both engines
  "ssh-identity": { kind: "str", help: "ssh private key file" },
  "ssh-port": { kind: "port", help: "ssh port" },
  bwlimit: { kind: "bwlimit", help: "rsync bandwidth limit (rsync --bwlimit, e.g. \"2M\")" },
  "stale-lock-age": { kind: "duration", help: "a lock left by a dead process on this host and older than this is removed" },
};

/**
 * Other names for the same option. PRestic stores `repository` as flag.repo, `password` as
 * env.RESTIC_PASSWORD and so on, so a child setting either spelling overrides its parent's.
 */
export const ALIASES: Readonly<Record<string, string>> = {
  "flag.repo": "repository",
  "flag.r": "repository",
  "env.RESTIC_REPOSITORY": "repository",
  "flag.repository-file": "repository-file",
  "env.RESTIC_REPOSITORY_FILE": "repository-file",
  "env.RESTIC_PASSWORD": "password",
  "flag.password-file": "password-file",
  "env.RESTIC_PASSWORD_FILE": "password-file",
  "flag.password-command": "password-command",
  "env.RESTIC_PASSWORD_COMMAND": "password-command",
  "flag.key-hint": "key-hint",
  "flag.cacert": "cacert",
  "env.RESTIC_CACERT": "cacert",
  "env.RESTIC_REST_PASSWORD": "rest-password",
  "env.RESTIC_KEY_HINT": "key-hint",
  "env.RESTIC_CACHE_DIR": "cache-dir",
  "flag.cache-dir": "cache-dir",
  "flag.verbose": "verbose",
  "flag.option": "option",
  "flag.o": "option",
  "flag.limit-upload": "limit-upload",
  "flag.limit-download": "limit-download",
  // PRestic users put the policy on the profile as forget's flags.
  "flag.keep-last": "keep-last",
  "flag.keep-hourly": "keep-hourly",
  "flag.keep-daily": "keep-daily",
  "flag.keep-weekly": "keep-weekly",
  "flag.keep-monthly": "keep-monthly",
  "flag.keep-yearly": "keep-yearly",
  "flag.keep-within": "keep-within",
  "flag.keep-tag": "keep-tag",
  "restic-path": "executable", // PRestic before "executable"
};

/** The password sources; the nearest profile that names any of them decides the password. */
export const PASSWORD_KEYS = ["password", "password-file", "password-command", "password-keyring"] as const;

export type FlagValue = string | boolean | string[];

export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProfileError";
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FLAG_NAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** The canonical key for `key`, or null when it is not an option at all. */
export function canonicalKey(key: string): string | null {
  const k = key.startsWith("env.") ? key : key.toLowerCase();
  const alias = ALIASES[k] ?? ALIASES[key];
  if (alias) return alias;
  if (k in OPTIONS) return k;
  if (k.startsWith("env.")) return ENV_NAME.test(k.slice(4)) ? k : null;
  if (k.startsWith("flag.")) return FLAG_NAME.test(k.slice(5)) ? k : null;
  return null;
}

export type OptionValue = string | number | boolean | string[] | Priority;

/** "2M" → 2048 KiB; a bare number is KiB already (PRestic). */
export function parseSizeKiB(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgtp])?(?:i?b)?\s*$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  if (!m[2]) return Number.isInteger(n) ? n : null;
  const bytes = n * 1024 ** "bkmgtp".indexOf(m[2].toLowerCase());
  const kib = Math.round(bytes / 1024);
  return kib >= 1 ? kib : null;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "10m", "1h30m", "90s", "2d"; a bare number is seconds (PRestic's wait-for-lock). Milliseconds. */
export function parseDurationMs(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w)\s*)+$/.test(t)) return null;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return Math.round(total);
}

/** restic's own --retry-lock form (Go duration) for a number of milliseconds. */
export function goDuration(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${r || (!h && !m) ? `${r}s` : ""}`;
}

const TRUE = ["true", "on", "yes", "1"];
const FALSE = ["false", "off", "no", "0", ""];

function typeName(kind: OptionKind, spec?: OptionSpec): string {
  switch (kind) {
    case "int": return spec?.min !== undefined ? `a whole number from ${spec.min} to ${spec.max}` : "a whole number";
    case "bool": return "true or false (also on/off, yes/no, 1/0)";
    case "list": return "a list (words separated by spaces, quotes allowed)";
    case "words": return "a command (words separated by spaces, quotes allowed)";
    case "size": return "a size such as 500K, 2M or 1.5G (a bare number is KiB/s)";
    case "duration": return "a duration such as 30s, 10m or 1h30m (a bare number is seconds)";
    case "priority": return "one of idle, low, normal, high";
    case "port": return "a port number from 1 to 65535";
    case "bwlimit": return "an rsync bandwidth limit such as 500, 2M or 1.5G";
    case "regex": return "a regular expression";
    case "within": return "a restic duration such as 1y6m, 30d or 12h (years, months, days, hours)";
    default: return "text";
  }
}

/**
 * Reads one option value. `raw` is INI text or a JSON value. Throws a ProfileError naming
 * the profile, the key and the expected type.
 */
export function parseOption(profile: string, key: string, raw: unknown): OptionValue {
  const canon = canonicalKey(key);
  if (!canon) throw new ProfileError(`profile "${profile}": unknown option "${key}"`);
  if (canon.startsWith("flag.")) return parseFlag(profile, key, raw);
  const spec = OPTIONS[canon];
  const kind: OptionKind = spec ? spec.kind : "str";
  const bad = (extra = ""): never => {
    const shown = typeof raw === "string" ? JSON.stringify(raw) : JSON.stringify(raw) ?? String(raw);
    throw new ProfileError(`profile "${profile}": option "${key}" must be ${typeName(kind, spec)}, not ${spec?.secret ? "the given value" : shown}${extra}`);
  };
  if (raw === null || raw === undefined) bad();
  const text = typeof raw === "string" ? raw.trim() : null;
  switch (kind) {
    case "str":
      if (typeof raw === "number") return String(raw);
      if (typeof raw !== "string") return bad();
      if (raw.includes("\0")) return bad(" (it contains a NUL character)");
      return canon === "password" ? raw : raw.trim();
    case "regex":
      if (text === null) return bad();
      try { new RegExp(text); } catch (err) { return bad(` (${(err as Error).message})`); }
      return text;
    case "int": {
      const n = typeof raw === "number" ? raw : text !== null && /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(n)) return bad();
      if (spec?.min !== undefined && (n < spec.min || n > (spec.max ?? Infinity))) return bad();
      return n;
    }
    case "port": {
      const n = typeof raw === "number" ? raw : text !== null && /^\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 65535) return bad();
      return n;
    }
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (typeof raw === "number" && (raw === 0 || raw === 1)) return raw === 1;
      if (text !== null && TRUE.includes(text.toLowerCase())) return true;
      if (text !== null && FALSE.includes(text.toLowerCase())) return false;
      return bad();
    case "list":
    case "words": {
      if (Array.isArray(raw)) {
        if (!raw.every((w) => typeof w === "string" && !w.includes("\0"))) return bad();
        if (kind === "words" && raw.length === 0) return bad(" (it is empty)");
        return [...(raw as string[])];
      }
      if (typeof raw !== "string") return bad();
      try {
        return splitWords(raw, { strict: kind === "words", what: `profile "${profile}": option "${key}"` });
      } catch (err) {
        if (err instanceof WordsError) throw new ProfileError(err.message);
        throw err;
      }
    }
    case "size": {
      const n = typeof raw === "number" ? (Number.isInteger(raw) && raw >= 0 ? raw : null) : text !== null ? parseSizeKiB(text) : null;
      return n === null ? bad() : n;
    }
    case "duration": {
      const ms = typeof raw === "number" ? (raw >= 0 ? raw * 1000 : null) : text !== null ? parseDurationMs(text) : null;
      return ms === null ? bad() : ms;
    }
    case "priority":
      if (text === null || !["idle", "low", "normal", "high"].includes(text.toLowerCase())) return bad();
      return text.toLowerCase() as Priority;
    case "within":
      if (text === null || !/^(\d+[ymdh])+$/.test(text)) return bad();
      return text;
    case "bwlimit": {
      const t = typeof raw === "number" ? String(raw) : text;
      if (t === null || !/^[0-9]+(\.[0-9]+)?[KMGkmg]?$/.test(t)) return bad();
      return t;
    }
  }
  return bad();
}

/**
 * A flag.* value: true → `--x`, false → left out, a list → repeated, anything else → `--x=value`.
 * INI text with several lines is a list, one value per line.
 */
function parseFlag(profile: string, key: string, raw: unknown): FlagValue {
  const bad = (): never => { throw new ProfileError(`profile "${profile}": option "${key}" must be true/false, a value, or a list of values, not ${JSON.stringify(raw)}`); };
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "number") return String(raw);
  if (Array.isArray(raw)) {
    if (!raw.every((v) => typeof v === "string" && !v.includes("\0"))) return bad();
    return [...(raw as string[])];
  }
  if (typeof raw !== "string" || raw.includes("\0")) return bad();
  const text = raw.trim();
  if (text.includes("\n")) return text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const low = text.toLowerCase();
  if (TRUE.includes(low) && low !== "1") return true;
  if (FALSE.includes(low) && low !== "0") return false;
  return text;
}

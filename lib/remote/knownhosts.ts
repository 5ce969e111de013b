/**
 * The product's own known_hosts file (OpenSSH format, so the ssh that runs jobs reads the same
 * trust): parsing, matching plain, `[host]:port`, wildcard and hashed (`|1|salt|hash`) entries,
 * SHA256 fingerprints, and adding a key without ever trusting a changed one silently.
 */
import { createHash, createHmac } from "node:crypto";
import { promises as fsp } from "node:fs";
import { writeAtomic } from "../util/fsx";

export interface KnownHostEntry {
  /** `@cert-authority` / `@revoked`, or null for a plain host key line. */
  marker: "cert-authority" | "revoked" | null;
  hosts: string;
  type: string;
  blob: Buffer;
  /** Line number (1-based) in the file. */
  line: number;
}

export interface HostKeyInfo {
  type: string;
  fingerprint: string;
  /** The known_hosts line that trusts this key for this host and port. */
  line: string;
}

export interface HostKeyStatus {
  /** A line for this host carries exactly this key. */
  known: boolean;
  /** Lines for this host exist, but none carries this key: never connect. */
  changed: boolean;
  /** The key is listed as @revoked. */
  revoked: boolean;
  /** The keys on file for this host (type and fingerprint), to show beside a changed key. */
  onFile: { type: string; fingerprint: string }[];
}

export class HostKeyChangedError extends Error {
  constructor(readonly host: string, readonly onFile: { type: string; fingerprint: string }[]) {
    super(`the known_hosts file already holds a different key for ${host}; replace it only if the server was reinstalled`);
    this.name = "HostKeyChangedError";
  }
}

export class HostKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HostKeyError";
  }
}

/** Strips the brackets of an IPv6 literal as typed (`[::1]`); lower case as OpenSSH compares. */
export function bareHost(host: string): string {
  const h = host.trim().toLowerCase();
  return /^\[[0-9a-f:.]+\]$/.test(h) ? h.slice(1, -1) : h;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` on any other port. */
export function knownHostName(host: string, port?: number): string {
  const h = bareHost(host);
  return !port || port === 22 ? h : `[${h}]:${port}`;
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The algorithm name that starts an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new HostKeyError("the host key is malformed");
  const n = blob.readUInt32BE(0);
  if (n === 0 || n > 64 || 4 + n > blob.length) throw new HostKeyError("the host key is malformed");
  const type = blob.subarray(4, 4 + n).toString("latin1");
  if (!/^[A-Za-z0-9@._+-]+$/.test(type)) throw new HostKeyError("the host key is malformed");
  return type;
}

export function hostKeyInfo(host: string, port: number | undefined, blob: Buffer): HostKeyInfo {
  const type = keyTypeOf(blob);
  return { type, fingerprint: fingerprintOf(blob), line: `${knownHostName(host, port)} ${type} ${blob.toString("base64")}` };
}

/** Every host key line of a known_hosts text; comments, blank and unreadable lines are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const words = lines[i]!.trim().split(/\s+/);
    if (!words[0] || words[0].startsWith("#")) continue;
    let marker: KnownHostEntry["marker"] = null;
    if (words[0].startsWith("@")) {
      const m = words.shift()!;
      if (m === "@cert-authority") marker = "cert-authority";
      else if (m === "@revoked") marker = "revoked";
      else continue;
    }
    const [hosts, type, key] = words;
    if (!hosts || !type || !key || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) continue;
    const blob = Buffer.from(key, "base64");
    try {
      if (keyTypeOf(blob) !== type) continue;
    } catch {
      continue;
    }
    out.push({ marker, hosts, type, blob, line: i + 1 });
  }
  return out;
}

/** OpenSSH's pattern match: `*` and `?` wildcards, case-insensitive. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.toLowerCase().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "s");
  return re.test(name);
}

function hashedMatch(field: string, name: string): boolean {
  const parts = field.split("|");
  // "|1|salt|hash" splits into ["", "1", salt, hash]
  if (parts.length !== 4 || parts[1] !== "1") return false;
  const salt = Buffer.from(parts[2]!, "base64");
  const want = Buffer.from(parts[3]!, "base64");
  if (salt.length !== 20 || want.length !== 20) return false;
  return createHmac("sha1", salt).update(name).digest().equals(want);
}

/** Does a line's host field name `name` (as knownHostName gives it)? */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|")) return hashedMatch(field, name);
  let hit = false;
  for (const p of field.split(",")) {
    if (!p) continue;
    if (p.startsWith("!")) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      hit = true;
    }
  }
  return hit;
}

/**
 * How a presented key stands against the file. Stricter than OpenSSH on one point: a host
 * with keys on file presenting a key of another type counts as changed. Validation offers the
 * known key types first (as OpenSSH does), so a server that answers with another type no
 * longer holds the key that was trusted.
 */
export function hostKeyStatus(entries: KnownHostEntry[], host: string, port: number | undefined, blob: Buffer): HostKeyStatus {
  const name = knownHostName(host, port);
  const mine = entries.filter((e) => e.marker !== "cert-authority" && hostFieldMatches(e.hosts, name));
  const revoked = entries.some((e) => e.marker === "revoked" && e.blob.equals(blob) && hostFieldMatches(e.hosts, name));
  const plain = mine.filter((e) => e.marker === null);
  const known = !revoked && plain.some((e) => e.blob.equals(blob));
  const onFile = plain.map((e) => ({ type: e.type, fingerprint: fingerprintOf(e.blob) }));
  return { known, changed: !known && (revoked || plain.length > 0), revoked, onFile };
}

/** Key types on file for this host, so a connection can offer those algorithms first. */
export function knownKeyTypes(entries: KnownHostEntry[], host: string, port: number | undefined): string[] {
  const name = knownHostName(host, port);
  return [...new Set(entries.filter((e) => e.marker === null && hostFieldMatches(e.hosts, name)).map((e) => e.type))];
}

export async function readKnownHosts(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new HostKeyError("the product's known_hosts file cannot be read");
  }
}

/** "type base64" or a whole known_hosts line → the key blob (the host part is never trusted). */
export function parsePublicKey(text: string): Buffer {
  const words = text.trim().split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    const [type, key] = [words[i]!, words[i + 1]!];
    if (/^[A-Za-z0-9@._+-]+$/.test(type) && /^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
      const blob = Buffer.from(key, "base64");
      try {
        if (keyTypeOf(blob) === type) return blob;
      } catch { /* try the next pair of words */ }
    }
  }
  throw new HostKeyError("that is not an ssh public key");
}

/** Drops `name` from a line's host field: null removes the line, a string is the field left. */
function withoutHost(field: string, name: string): string | null {
  if (field.startsWith("|")) return hashedMatch(field, name) ? null : field;
  const left = field.split(",").filter((p) => p.toLowerCase() !== name);
  return left.length ? left.join(",") : null;
}

const queues = new Map<string, Promise<unknown>>();

/** One writer at a time per file in this process: read, change and rename never interleave. */
function serial<T>(file: string, work: () => Promise<T>): Promise<T> {
  const prev = queues.get(file) ?? Promise.resolve();
  const next = prev.then(work, work);
  const tail = next.catch(() => undefined);
  queues.set(file, tail);
  void tail.then(() => { if (queues.get(file) === tail) queues.delete(file); });
  return next;
}

export interface AcceptOptions {
  host: string;
  port?: number;
  /** The key: "type base64", or a known_hosts line (only its key part is used). */
  key: string;
  /** When given, the key must have this fingerprint. */
  fingerprint?: string;
  /** Replace the keys on file for exactly this host (the server was reinstalled). */
  replace?: boolean;
}

export interface AcceptResult extends HostKeyInfo {
  /** False when the file already trusted this key for this host. */
  added: boolean;
  /** Lines (or names within lines) removed by `replace`. */
  replaced: number;
}

/**
 * Trusts a host key by adding it to the product's known_hosts: the file is rewritten as a
 * whole (temp file + rename, mode 0600), no duplicate is added, and a host whose key on file
 * differs is refused unless `replace` is set.
 */
export function acceptHostKey(knownHostsFile: string, o: AcceptOptions): Promise<AcceptResult> {
  const blob = parsePublicKey(o.key);
  const info = hostKeyInfo(o.host, o.port, blob);
  if (o.fingerprint !== undefined && o.fingerprint !== info.fingerprint) {
    return Promise.reject(new HostKeyError(`the key has the fingerprint ${info.fingerprint}, not ${o.fingerprint}`));
  }
  return serial(knownHostsFile, async () => {
    const text = await readKnownHosts(knownHostsFile);
    const status = hostKeyStatus(parseKnownHosts(text), o.host, o.port, blob);
    if (status.revoked) throw new HostKeyError("that key is listed as revoked in the known_hosts file");
    if (status.known) return { ...info, added: false, replaced: 0 };
    if (status.changed && !o.replace) throw new HostKeyChangedError(knownHostName(o.host, o.port), status.onFile);
    let replaced = 0;
    let lines = text.split("\n");
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    if (o.replace) {
      const name = knownHostName(o.host, o.port);
      lines = lines.flatMap((raw) => {
        const words = raw.trim().split(/\s+/);
        if (!words[0] || words[0].startsWith("#") || words[0].startsWith("@")) return [raw];
        const left = withoutHost(words[0], name);
        if (left === words[0]) return [raw];
        replaced++;
        return left === null ? [] : [raw.replace(words[0], left)];
      });
    }
    lines.push(info.line);
    await writeAtomic(knownHostsFile, lines.join("\n") + "\n");
    return { ...info, added: true, replaced };
  });
}

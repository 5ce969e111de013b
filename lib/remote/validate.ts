/**
 * Pre-flight validation of an ssh source or destination, with ssh2 (no ssh process, no
 * shell string built from input): reachable → host key → login → paths and tools.
 *
 * The host key is checked against the product's known_hosts before anything else is sent:
 * an unknown key is reported with its fingerprint and the login is not attempted (unless the
 * caller passes `acceptKey` equal to that fingerprint); a changed key ends the check at once.
 */
import { promises as fsp } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import type { Socket } from "node:net";
import { Client, utils, type AnyAuthMethod, type ConnectConfig, type ParsedKey } from "ssh2";
import { remoteCommand } from "./ssh";
import {
  hostKeyInfo, hostKeyStatus, knownKeyTypes, parseKnownHosts, readKnownHosts, bareHost,
  type HostKeyStatus, type KnownHostEntry,
} from "./knownhosts";
import { openSocket, printable, seconds, where, RemoteError } from "./net";

export type Tool = "rsync" | "restic";
export const TOOLS: readonly Tool[] = ["rsync", "restic"];
/** What the path is for: a source must be readable, a destination writable (or creatable). */
export type PathRole = "source" | "destination";

export interface ValidateSshOptions {
  host: string;
  port?: number;
  user?: string;
  /** Private key file on this machine; without it ssh's default keys and agent are tried. */
  identityFile?: string;
  path?: string;
  /** Several paths, checked in one go (a job's source paths). */
  paths?: string[];
  role?: PathRole;
  knownHostsFile: string;
  timeoutMs?: number;
  needs?: Tool[];
  /** A fingerprint the user has seen: an unknown key with exactly this fingerprint may log in. */
  acceptKey?: string;
}

export interface PathCheck {
  path: string;
  ok: boolean;
  checked: boolean;
  exists: boolean | null;
  isDirectory: boolean | null;
  readable: boolean | null;
  writable: boolean | null;
  /** A destination that does not exist yet but whose parent folder is writable. */
  willBeCreated?: boolean;
  error?: string;
}

export interface ToolCheck {
  ok: boolean;
  checked: boolean;
  needed: boolean;
  version?: string;
  error?: string;
}

export interface HostKeyCheck extends Partial<Pick<HostKeyStatus, "onFile" | "revoked">> {
  ok: boolean;
  checked: boolean;
  known: boolean;
  changed: boolean;
  fingerprint?: string;
  type?: string;
  /** The known_hosts line that trusts this key (what "accept" would add). */
  line?: string;
  error?: string;
}

export interface SshValidation {
  checkedAt: number;
  durationMs: number;
  ok: boolean;
  target: { host: string; port: number; user: string; role: PathRole; needs: Tool[] };
  reachable: { ok: boolean; error?: string };
  hostKey: HostKeyCheck;
  auth: { ok: boolean; tried: boolean; methods: string[]; serverMethods?: string[]; error?: string };
  /** The first (or only) path's check; null when no path was given. */
  path: PathCheck | null;
  paths: PathCheck[];
  tools: Record<Tool, ToolCheck>;
}

const DEFAULT_TIMEOUT_MS = 15000;
const MAX_OUTPUT = 64 * 1024;
const MAX_KEY_FILE = 64 * 1024;

/** ssh2 host key algorithms that carry a key of a known_hosts type. */
const ALGOS: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/** Offer the algorithms of keys already on file first, as OpenSSH does. */
function hostKeyAlgorithms(entries: KnownHostEntry[], host: string, port: number): ConnectConfig["algorithms"] {
  const first = knownKeyTypes(entries, host, port).flatMap((t) => ALGOS[t] ?? []);
  if (!first.length) return undefined;
  return { serverHostKey: { remove: first, prepend: first } as unknown as NonNullable<ConnectConfig["algorithms"]>["serverHostKey"] };
}

/** The remote check, one line of POSIX sh (no backslashes, no "!"): paths are its arguments. */
const CHECK_SCRIPT = [
  "echo hb-check=1",
  "i=0",
  'for p in "$@"; do case $p in "~") p=$HOME;; "~/"*) p=$HOME/${p#"~/"};; esac; q=$p; while [ "$q" != / ] && [ "${q%/}" != "$q" ]; do q=${q%/}; done; case $q in */*) d=${q%/*}; [ -n "$d" ] || d=/;; *) d=.;; esac; f=""; for t in "-e" "-d" "-r" "-w"; do if [ $t "$p" ]; then f="$f 1"; else f="$f 0"; fi; done; if [ -d "$d" ]; then f="$f 1"; else f="$f 0"; fi; if [ -w "$d" ]; then f="$f 1"; else f="$f 0"; fi; echo "p$i=$f"; i=$((i+1)); done',
  'for t in rsync restic; do if command -v $t >/dev/null 2>&1; then if [ $t = rsync ]; then v=$(rsync --version 2>&1 | head -n 1); else v=$(restic version 2>&1 | head -n 1); fi; echo "$t=1 $v"; else echo "$t=0"; fi; done',
].join("; ");

function versionOf(tool: Tool, line: string): string | undefined {
  const m = tool === "rsync" ? /version\s+v?(\d[\w.+-]*)/.exec(line) : /restic\s+v?(\d[\w.+-]*)/.exec(line);
  return m?.[1];
}

interface Identity { label: string; key: Buffer }
interface Identities { list: Identity[]; agent?: string; problem?: string }

function keyError(file: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT": return `the ssh key file ${file} does not exist on the Node-RED host`;
    case "EACCES": case "EPERM": return `the ssh key file ${file} cannot be read by Node-RED (permission denied)`;
    case "EISDIR": return `${file} is a folder, not an ssh key file`;
    default: return `the ssh key file ${file} cannot be read`;
  }
}

/** Why a key file cannot be used, or null; the key's content never leaves this function. */
function keyProblem(file: string, data: Buffer): string | null {
  const parsed = utils.parseKey(data);
  if (parsed instanceof Error) {
    return /passphrase|encrypted/i.test(parsed.message)
      ? `the ssh key ${file} is protected by a passphrase; jobs run ssh in batch mode, which cannot ask for it: use a key without a passphrase or an ssh agent`
      : `${file} is not a private key that ssh can use`;
  }
  const key: ParsedKey | undefined = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) return `${file} is not a private key that ssh can use`;
  if (!key.isPrivateKey()) return `${file} holds a public key; give the private key file (the one without .pub)`;
  return null;
}

async function loadIdentities(identityFile: string | undefined): Promise<Identities> {
  if (identityFile) {
    let data: Buffer;
    try {
      const st = await fsp.stat(identityFile);
      if (st.isDirectory()) return { list: [], problem: `${identityFile} is a folder, not an ssh key file` };
      if (st.size > MAX_KEY_FILE) return { list: [], problem: `${identityFile} is too large to be an ssh key` };
      data = await fsp.readFile(identityFile);
    } catch (err) {
      return { list: [], problem: keyError(identityFile, err as NodeJS.ErrnoException) };
    }
    const problem = keyProblem(identityFile, data);
    return problem ? { list: [], problem } : { list: [{ label: identityFile, key: data }] };
  }
  // Like ssh without -i: the usual key files, then the agent.
  const list: Identity[] = [];
  for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const file = join(homedir(), ".ssh", name);
    try {
      const data = await fsp.readFile(file);
      if (data.length <= MAX_KEY_FILE && !keyProblem(file, data)) list.push({ label: file, key: data });
    } catch { /* absent or unreadable: ssh would skip it too */ }
  }
  const agent = process.env.SSH_AUTH_SOCK || undefined;
  if (!list.length && !agent) {
    return { list, problem: "no ssh key to log in with: set the job's key file (none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa is usable and no ssh agent runs)" };
  }
  return { list, agent };
}

function notChecked(why: string): ToolCheck & PathCheck {
  return { path: "", ok: false, checked: false, needed: false, exists: null, isDirectory: null, readable: null, writable: null, error: `not checked: ${why}` };
}

function judgePath(path: string, flags: boolean[], role: PathRole, user: string): PathCheck {
  const [exists, dir, readable, writable, parentDir, parentWritable] = flags as [boolean, boolean, boolean, boolean, boolean, boolean];
  const c: PathCheck = { path, ok: false, checked: true, exists, isDirectory: exists ? dir : null, readable: exists ? readable : null, writable: exists ? writable : null };
  if (role === "source") {
    if (!exists) c.error = `${path} does not exist on the remote host`;
    else if (!readable) c.error = `${path} is not readable by ${user}`;
    else c.ok = true; // a source need not be writable
    return c;
  }
  if (exists) {
    if (!dir) c.error = `${path} exists but is not a folder`;
    else if (!writable) c.error = `${path} is not writable by ${user}`;
    else c.ok = true;
  } else if (!parentDir) {
    c.error = `neither ${path} nor its parent folder exists on the remote host`;
  } else if (!parentWritable) {
    c.error = `${path} does not exist and ${user} may not create it (its parent folder is not writable)`;
  } else {
    c.ok = true;
    c.willBeCreated = true;
  }
  return c;
}

function applyOutput(r: SshValidation, out: string, err: string, code: number | null, paths: string[], role: PathRole): void {
  const lines = out.split("\n");
  if (!lines.includes("hb-check=1")) {
    const why = `the remote side did not run the check (a forced command in authorized_keys, such as rrsync, or a login shell that is not sh-compatible?)${err.trim() ? `: ${printable(err)}` : code !== null ? ` (exit ${code})` : ""}`;
    r.paths = paths.map((p) => ({ ...strip(notChecked(why)), path: p, error: why }));
    for (const t of TOOLS) r.tools[t] = { ...r.tools[t], ok: false, checked: false, error: why };
    return;
  }
  const values = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf("=");
    if (i > 0) values.set(l.slice(0, i), l.slice(i + 1));
  }
  r.paths = paths.map((p, i) => {
    const v = values.get(`p${i}`);
    const flags = v?.trim().split(/\s+/).map((x) => x === "1");
    return flags && flags.length === 6 ? judgePath(p, flags, role, r.target.user) : { ...strip(notChecked("the remote check gave no answer for this path")), path: p };
  });
  for (const t of TOOLS) {
    const v = values.get(t) ?? "";
    const needed = r.target.needs.includes(t);
    if (v.startsWith("1")) {
      const line = v.slice(1).trim();
      r.tools[t] = { ok: true, checked: true, needed, version: versionOf(t, line) ?? (printable(line, 80) || undefined) };
    } else {
      r.tools[t] = { ok: false, checked: true, needed, error: `${t} is not installed on ${r.target.host} (or not on the PATH of ${r.target.user}'s non-interactive shell)` };
    }
  }
}

function strip(c: ToolCheck & PathCheck): PathCheck {
  const { needed: _n, version: _v, ...rest } = c;
  return rest;
}

function overall(r: SshValidation): boolean {
  return r.reachable.ok && r.hostKey.ok && r.auth.ok
    && r.paths.every((p) => p.ok)
    && r.target.needs.every((t) => r.tools[t].ok);
}

/**
 * Validates ssh access to a host for a job. Never throws for a remote problem: every check
 * carries `ok` and, when it failed or was not reached, a plain `error` sentence.
 */
export async function validateSsh(o: ValidateSshOptions): Promise<SshValidation> {
  const checkedAt = Date.now();
  const host = bareHost(o.host);
  const port = o.port || 22;
  const user = o.user || userInfo().username;
  const role: PathRole = o.role ?? "source";
  const needs: Tool[] = [...new Set<Tool>(o.needs ?? ["rsync"])];
  const timeoutMs = Math.max(1000, Math.min(o.timeoutMs ?? DEFAULT_TIMEOUT_MS, 120000));
  const paths = [...new Set([...(o.path ? [o.path] : []), ...(o.paths ?? [])])];
  const at = where(host, port);

  const r: SshValidation = {
    checkedAt,
    durationMs: 0,
    ok: false,
    target: { host, port, user, role, needs },
    reachable: { ok: false },
    hostKey: { ok: false, checked: false, known: false, changed: false },
    auth: { ok: false, tried: false, methods: [] },
    path: null,
    paths: [],
    tools: { rsync: { ok: false, checked: false, needed: needs.includes("rsync") }, restic: { ok: false, checked: false, needed: needs.includes("restic") } },
  };
  const skip = (why: string) => {
    if (!r.hostKey.checked && !r.hostKey.error) r.hostKey.error = `not checked: ${why}`;
    if (!r.auth.ok && !r.auth.error) r.auth.error = `not tried: ${why}`;
    if (!r.paths.length) r.paths = paths.map((p) => ({ ...strip(notChecked(why)), path: p }));
    for (const t of TOOLS) if (!r.tools[t].checked && !r.tools[t].error) r.tools[t].error = `not checked: ${why}`;
  };
  const done = (): SshValidation => {
    r.path = r.paths[0] ?? null;
    r.ok = overall(r);
    r.durationMs = Date.now() - checkedAt;
    return r;
  };

  let entries: KnownHostEntry[] | null = null;
  let knownHostsProblem: string | null = null;
  try {
    entries = parseKnownHosts(await readKnownHosts(o.knownHostsFile));
  } catch (err) {
    knownHostsProblem = (err as Error).message;
  }
  const ids = await loadIdentities(o.identityFile);

  let sock: Socket;
  try {
    sock = await openSocket(host, port, timeoutMs, "ssh server");
    r.reachable.ok = true;
  } catch (err) {
    r.reachable.error = err instanceof RemoteError ? err.message : `the connection to ${at} failed`;
    skip("the host could not be reached");
    return done();
  }

  await new Promise<void>((resolve) => {
    const conn = new Client();
    const errors: (Error & { level?: string })[] = [];
    let stage: "handshake" | "auth" | "exec" | "end" = "handshake";
    let timedOut = false;
    let settled = false;

    // What the connection's end means depends on the step that was under way.
    const interpret = () => {
      if (timedOut) {
        const limit = seconds(timeoutMs);
        if (stage === "handshake" && !r.hostKey.checked) r.hostKey.error = `the ssh server at ${at} did not complete the handshake within ${limit}`;
        else if (stage === "auth") r.auth.error = `the login as ${user} did not finish within ${limit}`;
        skip(`no answer within ${limit}`);
      } else if (stage === "handshake" && !r.hostKey.checked) {
        const e = errors[0];
        r.hostKey.error = e
          ? `${at} did not complete an SSH handshake (${printable(e.message, 120)}); is it an ssh server?`
          : `the ssh server at ${at} closed the connection during the handshake`;
        skip("the SSH handshake failed");
      } else if (stage === "auth") {
        const authErr = errors.find((e) => e.level === "client-authentication");
        r.auth.tried = r.auth.methods.length > 0;
        if (ids.problem) {
          r.auth.error = ids.problem;
        } else if (authErr || errors.length === 0) {
          const accepts = r.auth.serverMethods?.length ? `; the server accepts ${r.auth.serverMethods.join(", ")}` : "";
          r.auth.error = `the server refused the login as ${user} (tried ${r.auth.methods.length ? r.auth.methods.join(", ") : "no method"}${accepts})`;
        } else {
          r.auth.error = `the login as ${user} failed: ${printable(errors[errors.length - 1]!.message, 120)}`;
        }
        skip("the login failed");
      } else if (stage === "exec") {
        skip("the connection closed during the remote check");
      }
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      interpret();
      conn.end();
      sock.destroy();
      resolve();
    };
    const timer = setTimeout(() => { timedOut = true; finish(); }, Math.max(0, checkedAt + timeoutMs - Date.now()));

    const queue: { method: AnyAuthMethod; label?: string }[] = [{ method: { type: "none", username: user } }];
    if (!ids.problem) {
      for (const id of ids.list) queue.push({ method: { type: "publickey", username: user, key: id.key }, label: `publickey with ${id.label}` });
      if (ids.agent) queue.push({ method: { type: "agent", username: user, agent: ids.agent }, label: "publickey with the ssh agent's keys" });
    }

    const runCheck = (c: Client) => new Promise<void>((ok) => {
      c.exec(remoteCommand(["sh", "-c", CHECK_SCRIPT, "highball-check", ...paths]), (err, stream) => {
        if (err) {
          stage = "end";
          skip(`the remote command could not be started (${printable(err.message, 120)})`);
          ok();
          return;
        }
        let out = "";
        let errText = "";
        stream.on("data", (d: Buffer) => { if (out.length < MAX_OUTPUT) out += d.toString("utf8"); });
        stream.stderr.on("data", (d: Buffer) => { if (errText.length < MAX_OUTPUT) errText += d.toString("utf8"); });
        stream.on("close", (code: number | null) => {
          stage = "end";
          applyOutput(r, out, errText, code ?? null, paths, role);
          ok();
        });
      });
    });

    const verifier = (blob: Buffer): boolean => {
      let info;
      try {
        info = hostKeyInfo(host, port, blob);
      } catch (err) {
        r.hostKey = { ...r.hostKey, checked: true, error: (err as Error).message };
        skip("the server's host key is malformed");
        return false;
      }
      r.hostKey = { ...r.hostKey, checked: true, fingerprint: info.fingerprint, type: info.type, line: info.line };
      if (!entries) {
        r.hostKey.error = knownHostsProblem ?? "the product's known_hosts file cannot be read";
        skip("the host key could not be compared with the known_hosts file");
        return false;
      }
      const s = hostKeyStatus(entries, host, port, blob);
      r.hostKey = { ...r.hostKey, known: s.known, changed: s.changed, ok: s.known, ...(s.onFile.length ? { onFile: s.onFile } : {}), ...(s.revoked ? { revoked: true } : {}) };
      if (s.changed) {
        r.hostKey.error = s.revoked
          ? `the server presented a key that the known_hosts file lists as revoked (${info.fingerprint}); the connection was stopped`
          : `the host key of ${at} has changed since it was accepted (now ${info.fingerprint}); the connection was stopped before logging in. If the server was reinstalled, replace the old key`;
        skip("the host key has changed");
        return false;
      }
      if (!s.known) {
        if (o.acceptKey && o.acceptKey === info.fingerprint) {
          stage = "auth";
          return true;
        }
        r.hostKey.error = `the host key of ${at} is not known yet: compare its fingerprint ${info.fingerprint} with the server's (ssh-keygen -lf on the server's host key), then accept it`;
        skip("the host key is not trusted yet");
        return false;
      }
      stage = "auth";
      return true;
    };

    conn.on("error", (err: Error & { level?: string }) => { errors.push(err); });
    conn.on("close", finish);
    conn.on("ready", () => {
      stage = "exec";
      r.auth = { ...r.auth, ok: true, tried: true };
      delete r.auth.error;
      runCheck(conn).then(finish, finish);
    });
    try {
      conn.connect({
        sock,
        username: user,
        readyTimeout: 0,
        keepaliveInterval: 0,
        tryKeyboard: false,
        algorithms: entries ? hostKeyAlgorithms(entries, host, port) : undefined,
        hostVerifier: verifier,
        authHandler: ((authsLeft: string[] | null, _partial: boolean, next: (m: AnyAuthMethod | false) => void) => {
          if (authsLeft) r.auth.serverMethods = [...authsLeft];
          while (queue.length) {
            const { method, label } = queue.shift()!;
            const kind = method.type === "agent" ? "publickey" : method.type;
            if (authsLeft && method.type !== "none" && !authsLeft.includes(kind)) continue;
            if (label) r.auth.methods.push(label);
            next(method);
            return;
          }
          next(false);
        }) as unknown as ConnectConfig["authHandler"],
      });
    } catch (err) {
      r.hostKey.error = `the ssh connection could not be set up (${printable((err as Error).message, 120)})`;
      skip("the ssh connection could not be set up");
      finish();
    }
  });

  return done();
}

export interface FetchedHostKey {
  blob: Buffer;
  type: string;
  fingerprint: string;
  line: string;
  known: boolean;
  changed: boolean;
  onFile: { type: string; fingerprint: string }[];
}

/**
 * The host key a server presents (negotiated as validateSsh does), without logging in.
 * Throws a RemoteError with a plain sentence when the server cannot be reached.
 */
export async function fetchHostKey(o: { host: string; port?: number; knownHostsFile: string; timeoutMs?: number }): Promise<FetchedHostKey> {
  const host = bareHost(o.host);
  const port = o.port || 22;
  const timeoutMs = Math.max(1000, Math.min(o.timeoutMs ?? DEFAULT_TIMEOUT_MS, 120000));
  const entries = parseKnownHosts(await readKnownHosts(o.knownHostsFile));
  const started = Date.now();
  const sock = await openSocket(host, port, timeoutMs, "ssh server");
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let got: FetchedHostKey | null = null;
    let firstError: Error | null = null;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.end();
      sock.destroy();
      if (got) resolve(got);
      else if (timedOut) reject(new RemoteError(`the ssh server at ${where(host, port)} did not complete the handshake within ${seconds(timeoutMs)}`, "timeout"));
      else reject(new RemoteError(`${where(host, port)} did not complete an SSH handshake${firstError ? ` (${printable(firstError.message, 120)})` : ""}; is it an ssh server?`, "protocol"));
    };
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; finish(); }, Math.max(0, started + timeoutMs - Date.now()));
    conn.on("error", (err: Error) => { firstError ??= err; });
    conn.on("close", finish);
    try {
      conn.connect({
        sock,
        username: "highball",
        readyTimeout: 0,
        algorithms: hostKeyAlgorithms(entries, host, port),
        hostVerifier: (blob: Buffer) => {
          try {
            const info = hostKeyInfo(host, port, blob);
            const s = hostKeyStatus(entries, host, port, blob);
            got = { blob: Buffer.from(blob), ...info, known: s.known, changed: s.changed, onFile: s.onFile };
          } catch (err) {
            firstError = err as Error;
          }
          // Only the key was wanted: never log in here.
          setImmediate(finish);
          return false;
        },
      });
    } catch (err) {
      firstError = err as Error;
      finish();
    }
  });
}

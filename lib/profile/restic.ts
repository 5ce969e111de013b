/**
 * A resolved profile as one restic process: flags and extended options as arguments, the
 * repository and the password as environment (never on the command line), priorities for
 * the runner.
 */
import { readFile } from "node:fs/promises";
import { runCommand } from "../runs/command";
import { readFileSync } from "node:fs";
import type { ProcessPlan } from "../engines/types";
import { ProfileError } from "./options";
import { joinForRestic, WordsError } from "./words";
import { isSecretEnvName, repositoryUrlPassword, type EffectiveProfile } from "./resolve";
import { passwordProblem } from "./problems";

/** restic variables the plan always decides, so none leaks in from Node-RED's own environment. */
const PASSWORD_VARS = ["RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"] as const;
const REPOSITORY_VARS = ["RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE"] as const;

const COMMAND = /^[a-z][a-z0-9-]*$/;

export interface ResticEnv {
  env: Record<string, string>;
  secrets: string[];
}

/**
 * The repository and password of a profile as restic's variables, with names for a second
 * repository: `prefix` "RESTIC_" (the main one), "RESTIC_FROM_" (copy's source, restic >= 0.14)
 * or `suffix` "2" (copy's destination before 0.14: RESTIC_REPOSITORY2, RESTIC_PASSWORD2 ...).
 */
export function repositoryEnv(p: EffectiveProfile, names: { prefix?: string; suffix?: string } = {}): ResticEnv {
  const pre = names.prefix ?? "RESTIC_";
  const suf = names.suffix ?? "";
  const o = p.options;
  const env: Record<string, string> = {};
  const secrets: string[] = [];
  const v = (name: string) => `${pre}${name}${suf}`;
  for (const n of [...REPOSITORY_VARS, ...PASSWORD_VARS]) env[v(n.slice("RESTIC_".length))] = "";
  const rest = restPassword(p);
  if (o.repository) env[v("REPOSITORY")] = rest === null ? o.repository : withRestPassword(p, o.repository, rest);
  else if (o["repository-file"]) {
    if (rest !== null) throw new ProfileError(`profile "${p.name}": a REST password needs the repository URL in the profile (repository), not in a repository file`);
    env[v("REPOSITORY_FILE")] = o["repository-file"];
  } else throw new ProfileError(`profile "${p.name}" has no repository`);
  const urlPassword = repositoryUrlPassword(o.repository);
  if (urlPassword) secrets.push(urlPassword, decodeURIComponentSafe(urlPassword));
  if (rest !== null) secrets.push(rest, encodeURIComponent(rest));
  if (o.password !== undefined) {
    env[v("PASSWORD")] = o.password;
    secrets.push(o.password);
  } else if (o["password-command"]) {
    try {
      env[v("PASSWORD_COMMAND")] = joinForRestic(o["password-command"], `profile "${p.name}": password-command`);
    } catch (err) {
      if (err instanceof WordsError) throw new ProfileError(err.message);
      throw err;
    }
  } else if (o["password-file"]) {
    env[v("PASSWORD_FILE")] = o["password-file"];
  } else {
    throw new ProfileError(passwordProblem(p) ?? `profile "${p.name}" has no password`);
  }
  if (o["key-hint"]) env[v("KEY_HINT")] = o["key-hint"];
  return { env, secrets: [...new Set(secrets.filter((s) => s !== ""))] };
}

/** The REST server's password from the credential or its file, or null when the profile gives none. */
function restPassword(p: EffectiveProfile): string | null {
  const o = p.options;
  if (o["rest-password"] !== undefined && o["rest-password"] !== "") return o["rest-password"];
  const file = o["rest-password-file"];
  if (!file) return null;
  let text: string;
  try {
    // Small and read once per plan; synchronous, because a plan is made synchronously everywhere.
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ProfileError(`profile "${p.name}": the REST password file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const pw = text.trim();
  if (!pw) throw new ProfileError(`profile "${p.name}": the REST password file ${file} is empty`);
  return pw;
}

/**
 * rest:http(s)://user@host/... with the password put in after the user. The whole URL then
 * travels as RESTIC_REPOSITORY (every restic version reads it there; 0.17's RESTIC_REST_PASSWORD
 * would leave 0.14-0.16 out), so it is never on a command line, and the runner masks it.
 */
function withRestPassword(p: EffectiveProfile, repository: string, password: string): string {
  const m = /^(rest:https?:\/\/)([^/@:]+)(:[^/@]*)?@(.+)$/i.exec(repository);
  if (!/^rest:/i.test(repository)) throw new ProfileError(`profile "${p.name}": a REST password is only for a rest: repository (rest:https://user@host:8000/repo), not ${repository.split(":")[0]}:`);
  if (!m) throw new ProfileError(`profile "${p.name}": put the REST server's user name in the repository URL (rest:https://USER@host:8000/repo); its password stays in the REST password field`);
  if (m[3]) throw new ProfileError(`profile "${p.name}": the repository URL holds a password too; keep it only in the REST password field`);
  return `${m[1]}${m[2]}:${encodeURIComponent(password)}@${m[4]}`;
}

function decodeURIComponentSafe(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

/** The global arguments a profile adds to every restic command: flag.*, -o, cache, limits, verbosity. */
export function profileArgs(p: EffectiveProfile): string[] {
  const o = p.options;
  const args: string[] = [];
  for (const [name, value] of Object.entries(p.flags)) {
    // A password belongs in the password options, where it stays off the command line.
    if (/password/i.test(name)) throw new ProfileError(`profile "${p.name}": flag.${name} is not allowed; use the password, password-file or password-command options`);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === true) args.push(`--${name}`);
      else if (typeof v === "string") args.push(`--${name}=${v}`);
    }
  }
  for (const kv of o.option ?? []) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*=/.test(kv)) throw new ProfileError(`profile "${p.name}": option "${kv}" must look like key=value`);
    args.push("-o", kv);
  }
  if (o["cache-dir"]) args.push(`--cache-dir=${o["cache-dir"]}`);
  if (o.cacert) args.push(`--cacert=${o.cacert}`);
  if (o["limit-upload"]) args.push(`--limit-upload=${o["limit-upload"]}`);
  if (o["limit-download"]) args.push(`--limit-download=${o["limit-download"]}`);
  if (o.verbose) args.push(`--verbose=${o.verbose}`);
  return args;
}

/** Variables from env.*; names that look secret also become words the runner masks. */
export function profileEnv(p: EffectiveProfile): ResticEnv {
  const env: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [k, v] of Object.entries(p.env)) {
    env[k] = v;
    if (isSecretEnvName(k) && v.length >= 4) secrets.push(v);
  }
  return { env, secrets };
}

/**
 * One restic process for `command` with `args`, configured by the profile. The profile's
 * flags come right after the command word, where restic accepts both its global flags and
 * the command's own.
 */
export function profileToRestic(p: EffectiveProfile, command: string, args: string[] = []): ProcessPlan {
  if (!COMMAND.test(command)) throw new ProfileError(`"${command}" is not a restic command`);
  const exe = p.options.executable ?? ["restic"];
  if (exe.length === 0 || !exe[0]) throw new ProfileError(`profile "${p.name}": executable is empty`);
  const user = profileEnv(p);
  const repo = repositoryEnv(p);
  const plan: ProcessPlan = {
    command: exe[0],
    args: [...exe.slice(1), command, ...profileArgs(p), ...args],
    env: { ...user.env, ...repo.env },
    secrets: [...new Set([...repo.secrets, ...user.secrets])],
  };
  if (p.options["cpu-priority"]) plan.cpuPriority = p.options["cpu-priority"];
  if (p.options["io-priority"]) plan.ioPriority = p.options["io-priority"];
  return plan;
}

/**
 * The password itself, read here: from the credential, the file, or by running the command
 * (an argument array, no shell). Needed when restic runs on another host and gets the
 * password on its standard input.
 */
export async function resolvePassword(p: EffectiveProfile, opts: { timeoutMs?: number } = {}): Promise<string> {
  const o = p.options;
  if (o.password !== undefined) return o.password;
  if (o["password-command"]) {
    const [cmd, ...args] = o["password-command"];
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const r = await runCommand({ command: cmd!, args, env: p.env, timeoutMs }, { maxStdout: 64 * 1024 });
    if (r.code !== 0) {
      const why = r.spawnError ?? (r.timedOut ? `it did not finish within ${Math.round(timeoutMs / 1000)} s` : r.code === null ? `stopped by ${r.signal}` : `exit code ${r.code}`);
      throw new ProfileError(`profile "${p.name}": the password command failed (${why})`);
    }
    const pw = r.stdout.trim(); // restic trims the command's output the same way
    if (!pw) throw new ProfileError(`profile "${p.name}": the password command printed nothing`);
    return pw;
  }
  if (o["password-file"]) {
    let text: string;
    try {
      text = await readFile(o["password-file"], "utf8");
    } catch (err) {
      throw new ProfileError(`profile "${p.name}": the password file ${o["password-file"]} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
    const pw = text.trim(); // restic's rule: the whole file, surrounding white space removed
    if (!pw) throw new ProfileError(`profile "${p.name}": the password file ${o["password-file"]} is empty`);
    return pw;
  }
  repositoryEnv(p); // throws the sentence for a keyring or a missing password
  throw new ProfileError(`profile "${p.name}" has no password`);
}

/**
 * The profile with its password already read (from the credential, the file or the command),
 * so a missing or unreadable password fails before restic starts, as a sentence of ours; the
 * plan then hands it to restic in its environment, never on the command line.
 */
export async function withPassword(p: EffectiveProfile): Promise<EffectiveProfile> {
  const password = await resolvePassword(p);
  return { ...p, options: { ...p.options, password, "password-file": undefined, "password-command": undefined } };
}

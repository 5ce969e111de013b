/**
 * Profiles and their inheritance, the way PRestic resolves them: a profile's own keys win;
 * then its parents are applied in the order `inherit` lists them, each already resolved with
 * its own ancestors, and a parent only fills keys nobody nearer has set. So the FIRST parent
 * listed wins over later ones (PRestic's Profile.inherit(): "if not self.is_defined(key)").
 */
import type { Priority } from "../engines/types";
import {
  canonicalKey, parseOption, OPTIONS, PASSWORD_KEYS, ProfileError, goDuration,
  type FlagValue, type OptionValue,
} from "./options";
import { parseIni } from "./ini";

/** A profile as stored: PRestic's keys under `options`, the plain password as a credential. */
export interface ProfileDef {
  options: Record<string, unknown>;
  /** The Node-RED credential; wins over a `password` inside options. */
  password?: string;
  /** The REST server user's password, a Node-RED credential; wins over `rest-password` inside options. */
  restPassword?: string;
}

export type ProfileSet = Record<string, ProfileDef> | Map<string, ProfileDef>;

/** Typed values under PRestic's names. Durations are milliseconds, limits KiB/s. */
export interface ProfileOptions {
  inherit?: string[];
  description?: string;
  repository?: string;
  "repository-file"?: string;
  password?: string;
  "password-file"?: string;
  "password-command"?: string[];
  "password-keyring"?: string;
  "key-hint"?: string;
  "rest-password"?: string;
  "rest-password-file"?: string;
  cacert?: string;
  executable?: string[];
  command?: string[];
  args?: string[];
  schedule?: string;
  notifications?: boolean;
  "wait-for-lock"?: number;
  "cpu-priority"?: Priority;
  "io-priority"?: Priority;
  "limit-upload"?: number;
  "limit-download"?: number;
  verbose?: number;
  option?: string[];
  "cache-dir"?: string;
  "log-filter"?: string;
  "prune-logs-after"?: number;
  "ssh-identity"?: string;
  "ssh-port"?: number;
  bwlimit?: string;
  "stale-lock-age"?: number;
  "keep-last"?: number;
  "keep-hourly"?: number;
  "keep-daily"?: number;
  "keep-weekly"?: number;
  "keep-monthly"?: number;
  "keep-yearly"?: number;
  "keep-within"?: string;
  "keep-tag"?: string[];
}

export interface EffectiveProfile {
  name: string;
  /** The profile, then every ancestor in the order their values were applied. */
  chain: string[];
  options: ProfileOptions;
  /** `env.*` keys, without the prefix. */
  env: Record<string, string>;
  /** `flag.*` keys, without the prefix. */
  flags: Record<string, FlagValue>;
  /** Which profile each key's value came from (keys as in `options`, `env.X`, `flag.x`). */
  origin: Record<string, string>;
}

/** PRestic always has a "default" profile, empty unless the file defines one. */
const IMPLICIT_DEFAULT = "default";

function lookup(profiles: ProfileSet, name: string): ProfileDef | undefined {
  return profiles instanceof Map ? profiles.get(name) : Object.prototype.hasOwnProperty.call(profiles, name) ? profiles[name] : undefined;
}

/** One profile's own keys, typed and under canonical names. */
export function parseProfileOptions(name: string, def: ProfileDef): Map<string, OptionValue | FlagValue> {
  const own = new Map<string, OptionValue | FlagValue>();
  const spelled = new Map<string, string>();
  for (const [key, raw] of Object.entries(def.options ?? {})) {
    if (raw === undefined) continue;
    const canon = canonicalKey(key);
    if (!canon) throw new ProfileError(`profile "${name}": unknown option "${key}"`);
    const before = spelled.get(canon);
    if (before !== undefined) throw new ProfileError(`profile "${name}": option "${canon}" is set twice (as "${before}" and "${key}")`);
    spelled.set(canon, key);
    // The editor saves an untouched field as "": that means "not set here", so parents still count.
    if (raw === "" && OPTIONS[canon]?.kind !== "bool") continue;
    own.set(canon, parseOption(name, key, raw));
  }
  if (typeof def.password === "string" && def.password !== "") own.set("password", def.password);
  if (typeof def.restPassword === "string" && def.restPassword !== "") own.set("rest-password", def.restPassword);
  const inherit = own.get("inherit");
  if (inherit !== undefined && !Array.isArray(inherit)) throw new ProfileError(`profile "${name}": option "inherit" must be a list`);
  return own;
}

interface Layer { values: Map<string, OptionValue | FlagValue>; origin: Map<string, string>; chain: string[] }

function chainText(path: string[]): string {
  return path.slice(1).map((n) => `"${n}"`).join(" → ");
}

function resolveLayer(name: string, profiles: ProfileSet, path: string[], memo: Map<string, Layer>): Layer {
  const done = memo.get(name);
  if (done) return done;
  const def = lookup(profiles, name) ?? (name === IMPLICIT_DEFAULT ? { options: {} } : undefined);
  if (!def) throw new ProfileError(`no profile named "${name}"`);
  const own = parseProfileOptions(name, def);
  const values = new Map(own);
  const origin = new Map([...own.keys()].map((k) => [k, name]));
  const chain = [name];
  for (const parent of (own.get("inherit") as string[] | undefined) ?? []) {
    const next = [...path, parent];
    if (path.includes(parent)) throw new ProfileError(`profile "${path[0]}" inherits ${chainText(next)}: inheritance cycle`);
    if (!lookup(profiles, parent) && parent !== IMPLICIT_DEFAULT) {
      throw new ProfileError(`profile "${path[0]}" inherits ${chainText(next)}, but there is no profile "${parent}"`);
    }
    const layer = resolveLayer(parent, profiles, next, memo);
    // The password is one setting however it is given: a nearer password-file must not be
    // joined by a farther plain password (restic would take one of them behind our back).
    const hasPassword = PASSWORD_KEYS.some((k) => values.has(k));
    for (const [k, v] of layer.values) {
      if (values.has(k) || k === "inherit") continue;
      if (hasPassword && (PASSWORD_KEYS as readonly string[]).includes(k)) continue;
      values.set(k, Array.isArray(v) ? [...v] : v);
      origin.set(k, layer.origin.get(k) ?? parent);
    }
    for (const n of layer.chain) if (!chain.includes(n)) chain.push(n);
  }
  const layer = { values, origin, chain };
  memo.set(name, layer);
  return layer;
}

/** The effective options of profile `name`. Throws ProfileError on bad values, cycles, missing parents. */
export function resolveProfile(name: string, profiles: ProfileSet): EffectiveProfile {
  const layer = resolveLayer(name, profiles, [name], new Map());
  const options: Record<string, unknown> = {};
  const env: Record<string, string> = {};
  const flags: Record<string, FlagValue> = {};
  const origin: Record<string, string> = {};
  for (const [k, v] of layer.values) {
    origin[k] = layer.origin.get(k) ?? name;
    if (k.startsWith("env.")) env[k.slice(4)] = String(v);
    else if (k.startsWith("flag.")) flags[k.slice(5)] = v as FlagValue;
    else options[k] = v;
  }
  return { name, chain: layer.chain, options: options as ProfileOptions, env, flags, origin };
}

/** Every profile of an INI file (PRestic's config.ini) as ProfileDefs, in file order. */
export function profilesFromIni(text: string): Map<string, ProfileDef> {
  const out = new Map<string, ProfileDef>();
  for (const s of parseIni(text)) out.set(s.name, { options: { ...s.values } });
  return out;
}

/** Env names whose values are treated as secrets (masked for the editor, hidden from logs). */
export function isSecretEnvName(name: string): boolean {
  return /PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH/i.test(name);
}

/** The password inside a repository URL such as rest:https://user:pass@host/, or null. */
export function repositoryUrlPassword(repository: string | undefined): string | null {
  if (!repository) return null;
  const m = /^[a-z0-9]+:[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^/@]*)@/i.exec(repository) ?? /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^/@]*)@/i.exec(repository);
  return m && m[1] ? m[1] : null;
}

export const MASK = "********";

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? goDuration(ms) : `${ms}ms`;
}

/** What the editor may show: the effective profile with every secret masked. */
export interface ProfileDescription {
  name: string;
  chain: string[];
  /** Where the password comes from, never the password itself. */
  passwordSource: "password" | "password-file" | "password-command" | "password-keyring" | null;
  options: Record<string, unknown>;
  origin: Record<string, string>;
}

export function describeProfile(p: EffectiveProfile): ProfileDescription {
  const o = p.options;
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (k === "password" || k === "rest-password") options[k] = MASK;
    else if (k === "wait-for-lock" || k === "stale-lock-age") options[k] = formatDuration(v as number);
    else if (Array.isArray(v)) options[k] = [...v];
    else options[k] = v;
  }
  const urlPassword = repositoryUrlPassword(o.repository);
  if (urlPassword && o.repository) options.repository = o.repository.replace(`:${urlPassword}@`, `:${MASK}@`);
  for (const [k, v] of Object.entries(p.env)) options[`env.${k}`] = isSecretEnvName(k) ? MASK : v;
  for (const [k, v] of Object.entries(p.flags)) options[`flag.${k}`] = Array.isArray(v) ? [...v] : v;
  const passwordSource = (PASSWORD_KEYS.find((k) => o[k] !== undefined) ?? null) as ProfileDescription["passwordSource"];
  return { name: p.name, chain: [...p.chain], passwordSource, options, origin: { ...p.origin } };
}

// The MQTT topic layout (docs/mqtt.md). Pure: names in, topics out.
//
//   <base>/<instance>/availability              online | offline                 (retained)
//   <base>/<instance>/<job>/state               success | warning | failed | cancelled |
//                                               interrupted | running | delayed   (retained)
//   <base>/<instance>/<job>/last                the last result payload, JSON      (retained)
//   <base>/<instance>/<job>/last_success        ISO 8601 time of the last success  (retained)
//   <base>/<instance>/<job>/duration            seconds the last run took          (retained)
//   <base>/<instance>/<job>/availability        online | offline                   (retained)
//   <base>/<instance>/<job>/run                 anything: runs the job now         (command)
import { createHash } from "node:crypto";

export type Qos = 0 | 1 | 2;

/** One message for a core `mqtt out` node: msg.topic, msg.payload, msg.retain, msg.qos. */
export interface MqttMessage {
  topic: string;
  payload: string;
  retain: boolean;
  qos: Qos;
}

export interface MqttSettings {
  /** The first topic level(s): `highball`. */
  base: string;
  /** This Node-RED instance, one topic level: `nas`. */
  instance: string;
  /** Home Assistant's discovery prefix; empty turns discovery off. */
  discoveryPrefix: string;
  qos: Qos;
  /** This package's version, for Home Assistant's device and origin info. */
  version: string;
  /** The notify node's stale limit: a job with no success for this long is stale (0: no Stale sensor). */
  staleMs: number;
}

export interface MqttSettingsInput {
  base?: unknown;
  instance?: unknown;
  discovery?: unknown;
  discoveryPrefix?: unknown;
  qos?: unknown;
  version?: unknown;
  /** Hours, as the notify node's Stale after field. */
  staleHours?: unknown;
}

export const DEFAULT_BASE = "highball";
export const DEFAULT_DISCOVERY_PREFIX = "homeassistant";

/**
 * A topic level made of a name: lower case ASCII letters, digits and `sep`. Accents are folded
 * (`Fotos Übersicht` → `fotos-ubersicht`); a name with nothing left gets a short hash, so two
 * such names still differ.
 */
export function slug(text: string, sep: "-" | "_" = "-"): string {
  const folded = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  const s = folded.replace(/[^a-z0-9]+/g, sep).replace(sep === "-" ? /^-+|-+$/g : /^_+|_+$/g, "").slice(0, 64);
  if (s) return s;
  return `job${sep}${createHash("sha256").update(text).digest("hex").slice(0, 8)}`;
}

/** Why a configured topic prefix cannot be used, or null. Levels may not be empty or hold wildcards. */
export function topicProblem(what: string, topic: string): string | null {
  if (!topic) return `The MQTT ${what} is empty.`;
  if (/[+#\u0000]/.test(topic)) return `The MQTT ${what} "${topic}" holds a wildcard (+ or #) or a NUL character.`;
  if (topic.split("/").some((level) => level === "")) return `The MQTT ${what} "${topic}" has an empty level (a leading, trailing or double /).`;
  if (Buffer.byteLength(topic) > 1024) return `The MQTT ${what} is too long.`;
  return null;
}

function text(v: unknown): string {
  return typeof v === "string" ? v.trim() : "";
}

/** Settings from a node's properties, with the problems that make them unusable. */
export function mqttSettings(input: MqttSettingsInput, hostname: string): { settings: MqttSettings; problems: string[] } {
  const problems: string[] = [];
  const base = text(input.base) || DEFAULT_BASE;
  const baseProblem = topicProblem("base topic", base);
  if (baseProblem) problems.push(baseProblem);
  // The instance is one level: typed names are folded, so "Living room Pi" works as living-room-pi.
  const instance = slug(text(input.instance) || hostname || "node-red");
  const discoveryOn = input.discovery === undefined ? true : input.discovery === true || input.discovery === "true";
  const prefix = discoveryOn ? text(input.discoveryPrefix) || DEFAULT_DISCOVERY_PREFIX : "";
  if (prefix) {
    const p = topicProblem("discovery prefix", prefix);
    if (p) problems.push(p);
  }
  const q = Number(input.qos);
  const qos: Qos = q === 0 || q === 2 ? q : 1;
  const hours = Number(input.staleHours);
  const staleMs = Number.isFinite(hours) && hours > 0 ? Math.round(hours * 3600_000) : 0;
  return { settings: { base, instance, discoveryPrefix: prefix, qos, version: text(input.version) || "0.0.0", staleMs }, problems };
}

export interface InstanceTopics {
  availability: string;
  /** The subscription (with a wildcard) that receives every job's run command. */
  runFilter: string;
}

export function instanceTopics(s: MqttSettings): InstanceTopics {
  const root = `${s.base}/${s.instance}`;
  return { availability: `${root}/availability`, runFilter: `${root}/+/run` };
}

export interface JobTopics {
  state: string;
  last: string;
  lastSuccess: string;
  duration: string;
  availability: string;
  run: string;
  /** ON while the job has had no success within the stale limit. */
  stale: string;
}

export function jobTopics(s: MqttSettings, jobSlug: string): JobTopics {
  const root = `${s.base}/${s.instance}/${jobSlug}`;
  return {
    state: `${root}/state`,
    last: `${root}/last`,
    lastSuccess: `${root}/last_success`,
    duration: `${root}/duration`,
    availability: `${root}/availability`,
    run: `${root}/run`,
    stale: `${root}/stale`,
  };
}

/** The job slug of a run command topic of this instance (`highball/nas/photos/run` → `photos`), or null. */
export function runSlugOf(s: MqttSettings, topic: unknown): string | null {
  if (typeof topic !== "string") return null;
  const prefix = `${s.base}/${s.instance}/`;
  if (!topic.startsWith(prefix) || !topic.endsWith("/run")) return null;
  const middle = topic.slice(prefix.length, -"/run".length);
  return middle && !middle.includes("/") ? middle : null;
}

/** Home Assistant's own status topic: it publishes `online` there when it (re)starts. */
export function homeAssistantStatusTopic(s: MqttSettings): string | null {
  return s.discoveryPrefix ? `${s.discoveryPrefix}/status` : null;
}

export function message(s: MqttSettings, topic: string, payload: string, retain = true): MqttMessage {
  return { topic, payload, retain, qos: s.qos };
}

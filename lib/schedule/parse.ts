import { Cron } from "croner";
import { resolveTimezone } from "./timezone";

/** Where a schedule came from: a cron pattern, a human form, or a bare preset word. */
export type ScheduleKind = "cron" | "human" | "preset";

export interface Schedule {
  /** What the user wrote, trimmed. */
  text: string;
  /** The cron pattern (5 fields, or 6 with seconds) it means. */
  cron: string;
  /** Plain English, e.g. "on Mon–Fri at 06:15". */
  description: string;
  /** Canonical IANA zone the schedule is read in. */
  timezone: string;
  kind: ScheduleKind;
}

/** Times the bare words `hourly`, `daily`, `weekly`, `monthly` (and a time-less day list) use. */
export interface PresetTimes {
  hourlyMinute: number;
  dailyTime: string;
  weeklyDay: string;
  weeklyTime: string;
  monthlyDay: number;
  monthlyTime: string;
}

export const DEFAULT_PRESETS: Readonly<PresetTimes> = Object.freeze({
  hourlyMinute: 0,
  dailyTime: "02:00",
  weeklyDay: "sun",
  weeklyTime: "03:00",
  monthlyDay: 1,
  monthlyTime: "03:00",
});

/** Preset overrides as they arrive from an editor form: numbers may be strings, blanks mean default. */
export type PresetInput = { [K in keyof PresetTimes]?: PresetTimes[K] | string | null };

export interface ParseOptions {
  /** IANA zone; blank means the runtime's own. */
  timezone?: string | null;
  presets?: PresetInput;
}

const EXAMPLES = `expected cron like "0 2 * * *" or "daily at 02:00"`;

const DAYS: Record<string, number> = {
  sun: 0, sunday: 0, mon: 1, monday: 1, tue: 2, tues: 2, tuesday: 2, wed: 3, weds: 3, wednesday: 3,
  thu: 4, thur: 4, thurs: 4, thursday: 4, fri: 5, friday: 5, sat: 6, saturday: 6,
};
const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const FREQS = ["hourly", "daily", "weekly", "monthly"] as const;
type Freq = (typeof FREQS)[number];

interface Time { hour: number | "*"; minute: number }

class ScheduleError extends Error {}

const pad = (n: number): string => String(n).padStart(2, "0");

function parseTime(raw: string, what: string): Time {
  const m = /^(\*|\d{1,2})?:(\d{2})$/.exec(raw.trim());
  if (!m) throw new ScheduleError(`${what} "${raw}" is not a time; use HH:MM like 02:00, or *:MM for every hour`);
  const minute = Number(m[2]);
  if (minute > 59) throw new ScheduleError(`${what} "${raw}": minute ${minute} is out of range 00-59`);
  if (m[1] === undefined || m[1] === "*") return { hour: "*", minute };
  const hour = Number(m[1]);
  if (hour > 23) throw new ScheduleError(`${what} "${raw}": hour ${hour} is out of range 00-23`);
  return { hour, minute };
}

function fixedTime(raw: string, what: string): Time {
  const t = parseTime(raw, what);
  if (t.hour === "*") throw new ScheduleError(`${what} "${raw}" needs an hour, like 02:00`);
  return t;
}

function intIn(raw: number | string, lo: number, hi: number, what: string): number {
  const n = typeof raw === "number" ? raw : raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new ScheduleError(`${what} "${raw}" must be a whole number ${lo}-${hi}`);
  return n;
}

function dayOf(raw: string | number, what: string): number {
  if (typeof raw === "number" || /^\d+$/.test(String(raw).trim())) return intIn(raw, 0, 7, what) % 7;
  const d = DAYS[String(raw).trim().toLowerCase()];
  if (d === undefined) throw new ScheduleError(`${what} "${raw}" is not a day; use mon, tue, wed, thu, fri, sat or sun`);
  return d;
}

/** Preset times with every field checked; an Error names the bad field. */
export function resolvePresets(input?: PresetInput): PresetTimes {
  const pick = <K extends keyof PresetTimes>(k: K): PresetTimes[K] | string => {
    const v = input?.[k];
    return v === undefined || v === null || v === "" ? DEFAULT_PRESETS[k] : v;
  };
  try {
    const out: PresetTimes = {
      hourlyMinute: intIn(pick("hourlyMinute"), 0, 59, "hourly minute"),
      dailyTime: "", weeklyDay: "", weeklyTime: "",
      monthlyDay: intIn(pick("monthlyDay"), 1, 31, "monthly day"),
      monthlyTime: "",
    };
    const norm = (t: Time): string => `${pad(t.hour as number)}:${pad(t.minute)}`;
    out.dailyTime = norm(fixedTime(String(pick("dailyTime")), "daily time"));
    out.weeklyTime = norm(fixedTime(String(pick("weeklyTime")), "weekly time"));
    out.monthlyTime = norm(fixedTime(String(pick("monthlyTime")), "monthly time"));
    out.weeklyDay = DAY_NAMES[dayOf(pick("weeklyDay"), "weekly day")]!.toLowerCase();
    return out;
  } catch (err) {
    if (err instanceof ScheduleError) throw new Error(`invalid preset default: ${err.message}`);
    throw err;
  }
}

/** Runs of three or more consecutive values become ranges: [1,2,3,4,5] -> "1-5". */
function compress<T>(values: number[], show: (n: number) => T, range: (a: T, b: T) => string): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j]! + 1) j++;
    if (j - i >= 2) out.push(range(show(values[i]!), show(values[j]!)));
    else for (let k = i; k <= j; k++) out.push(String(show(values[k]!)));
    i = j + 1;
  }
  return out;
}

function dowField(days: Set<number>): string {
  if (days.size === 0 || days.size === 7) return "*";
  return compress([...days].sort((a, b) => a - b), (n) => n, (a, b) => `${a}-${b}`).join(",");
}

// Read Monday first, as people list days: "Mon–Fri", "Sat, Sun".
function dowText(days: Set<number>): string {
  const monFirst = [...days].map((d) => (d + 6) % 7).sort((a, b) => a - b);
  return compress(monFirst, (n) => DAY_NAMES[(n + 1) % 7]!, (a, b) => `${a}–${b}`).join(", ");
}

interface Human { cron: string; description: string; kind: ScheduleKind }

const STEP = /^every (\d+) ?(minutes?|mins?|m|hours?|hrs?|h)$/;

function isTimeToken(tok: string): boolean {
  return /^(\*|\d{1,2})?:\d+$/.test(tok);
}

function isHumanStart(tok: string): boolean {
  if ((FREQS as readonly string[]).includes(tok) || tok in DAYS || isTimeToken(tok)) return true;
  if (["at", "every", "weekdays", "weekday", "weekends", "weekend"].includes(tok)) return true;
  const r = /^([a-z]+)\.\.([a-z]+)$/.exec(tok);
  return !!r && r[1]! in DAYS;
}

/** A human schedule, or null when the text does not read as one (it may be cron). */
function parseHuman(text: string, presets: PresetTimes): Human | null {
  let s = text.toLowerCase().replace(/\s+/g, " ").trim()
    .replace(/\b([a-z]+) to ([a-z]+)\b/g, "$1..$2")
    .replace(/([a-z])\s*(?:\.\.|–|-)\s*(?=[a-z])/g, "$1..");
  const first = s.split(/[ ,]/)[0] ?? "";
  if (!isHumanStart(first)) return null;

  const step = STEP.exec(s);
  if (step) {
    const n = Number(step[1]);
    const hours = step[2]!.startsWith("h");
    const unit = hours ? "hour" : "minute";
    const whole = hours ? 24 : 60;
    if (n < 1 || whole % n !== 0) {
      throw new ScheduleError(`every ${n} ${unit}s does not divide ${hours ? "a day" : "an hour"} evenly; use ${hours ? "1, 2, 3, 4, 6, 8 or 12" : "1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30"}, or cron`);
    }
    const cron = hours ? (n === 1 ? "0 * * * *" : `0 */${n} * * *`) : n === 1 ? "* * * * *" : `*/${n} * * * *`;
    return { cron, description: n === 1 ? `every ${unit}` : `every ${n} ${unit}s`, kind: "human" };
  }
  if (s === "every minute") return { cron: "* * * * *", description: "every minute", kind: "human" };
  s = s
    .replace(/^every (hour|day|week|month)\b/, (_, u: string) => ({ hour: "hourly", day: "daily", week: "weekly", month: "monthly" })[u]!)
    .replace(/^every (?=[a-z]+day|mon|tue|wed|thu|fri|sat|sun)/, "");

  let freq: Freq | undefined;
  let time: Time | undefined;
  const days = new Set<number>();
  const tokens = s.split(/[ ,]+/).filter(Boolean);
  for (const tok of tokens) {
    if ((FREQS as readonly string[]).includes(tok)) {
      if (freq) throw new ScheduleError(`"${freq}" and "${tok}" cannot be combined`);
      freq = tok as Freq;
    } else if (tok === "at" || tok === "on") {
      continue;
    } else if (tok === "weekdays" || tok === "weekday") {
      for (let d = 1; d <= 5; d++) days.add(d);
    } else if (tok === "weekends" || tok === "weekend") {
      days.add(0).add(6);
    } else if (isTimeToken(tok)) {
      if (time) throw new ScheduleError(`give one time only (got a second one, "${tok}"); use cron for several`);
      time = parseTime(tok, "time");
    } else if (tok in DAYS) {
      days.add(DAYS[tok]!);
    } else {
      const r = /^([a-z]+)\.\.([a-z]+)$/.exec(tok);
      if (!r || !(r[1]! in DAYS) || !(r[2]! in DAYS)) {
        if (tok === tokens[0]) throw new ScheduleError(EXAMPLES);
        throw new ScheduleError(`"${tok}" is not understood; use a time like 02:00 or *:30, days like mon,tue or mon..fri, hourly, daily, weekly, monthly, or cron like "0 2 * * *"`);
      }
      // Ranges may wrap the week: fri..mon is Fri, Sat, Sun, Mon.
      for (let d = DAYS[r[1]!]!; ; d = (d + 1) % 7) {
        days.add(d);
        if (d === DAYS[r[2]!]) break;
      }
    }
  }
  if (!freq && !time && days.size === 0) throw new ScheduleError(EXAMPLES);
  const preset = tokens.length === 1 && freq !== undefined;
  const kind: ScheduleKind = preset ? "preset" : "human";
  const dow = dowField(days);
  const onDays = dow === "*" ? "" : ` on ${dowText(days)}`;

  if (freq === "hourly") {
    if (time && time.hour !== "*") {
      throw new ScheduleError(`"hourly" runs every hour; give only the minute, like "hourly at *:15"`);
    }
    const minute = time ? time.minute : presets.hourlyMinute;
    return { cron: `${minute} * * * ${dow}`, description: `every hour at :${pad(minute)}${onDays}`, kind };
  }
  if (freq === "monthly") {
    if (days.size) throw new ScheduleError(`"monthly" runs on day ${presets.monthlyDay} of the month; it cannot take day names (use cron for that)`);
    const t = time ?? fixedTime(presets.monthlyTime, "monthly time");
    const dom = presets.monthlyDay;
    if (t.hour === "*") {
      return { cron: `${t.minute} * ${dom} * *`, description: `every hour at :${pad(t.minute)} on day ${dom} of every month`, kind };
    }
    return { cron: `${t.minute} ${t.hour} ${dom} * *`, description: `on day ${dom} of every month at ${pad(t.hour)}:${pad(t.minute)}`, kind };
  }
  if (freq === "weekly" && days.size === 0) days.add(dayOf(presets.weeklyDay, "weekly day"));
  const fallback = freq === "weekly" ? presets.weeklyTime : presets.dailyTime;
  const t = time ?? fixedTime(fallback, `${freq ?? "daily"} time`);
  const field = dowField(days);
  const when = field === "*" ? "every day" : `on ${dowText(days)}`;
  if (t.hour === "*") {
    return { cron: `${t.minute} * * * ${field}`, description: `every hour at :${pad(t.minute)}${field === "*" ? "" : ` on ${dowText(days)}`}`, kind };
  }
  return { cron: `${t.minute} ${t.hour} * * ${field}`, description: `${when} at ${pad(t.hour)}:${pad(t.minute)}`, kind };
}

const CRONS = new Map<string, Cron>();

// Lists and ranges of hours count as fixed times, so a 02:30 run in a spring-forward gap runs at
// 03:00 instead of being lost, and runs once (not twice) in the repeated fall-back hour. A
// wildcard or step hour (hourly, */15) keeps wall-clock intervals: it skips the hour that does
// not exist and runs in both copies of the hour that happens twice, as those are real hours.
function compile(cron: string, timezone: string): Cron {
  const key = `${cron}\u0000${timezone}`;
  let c = CRONS.get(key);
  if (!c) {
    c = new Cron(cron, { timezone, mode: "5-or-6-parts", fixedTimeRule: "no-wildcard" });
    if (CRONS.size >= 1000) CRONS.clear();
    CRONS.set(key, c);
  }
  return c;
}

/** The cron matcher for a schedule (cached and shared: it holds no run state). */
export function cronOf(schedule: Pick<Schedule, "cron" | "timezone">): Cron {
  return compile(schedule.cron, schedule.timezone);
}

function parseCron(text: string, timezone: string): Human {
  const fields = text.split(/\s+/);
  if (!text.startsWith("@") && fields.length !== 5 && fields.length !== 6) {
    if (fields.length === 7) throw new ScheduleError("cron needs 5 fields (minute hour day month weekday) or 6 (seconds first), not 7");
    throw new ScheduleError(EXAMPLES);
  }
  let c: Cron;
  try {
    c = compile(text, timezone);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replace(/^Cron\w*: /, "");
    throw new ScheduleError(`${why}; ${EXAMPLES}`);
  }
  return { cron: text, description: describeCron(c.getPattern() ?? text), kind: "cron" };
}

/** Plain words for the common cron shapes; anything else is shown as the pattern itself. */
function describeCron(cron: string): string {
  const f = cron.split(/\s+/);
  if (f.length !== 5) return `cron "${cron}"`;
  const [mi, h, dom, mon, dow] = f as [string, string, string, string, string];
  if (!/^\d+$/.test(mi) || dom !== "*" || mon !== "*") return `cron "${cron}"`;
  const minute = Number(mi);
  let days = "";
  if (dow !== "*") {
    if (!/^[0-7](-[0-7])?(,[0-7](-[0-7])?)*$/.test(dow)) return `cron "${cron}"`;
    const set = new Set<number>();
    for (const part of dow.split(",")) {
      const [a, b] = part.split("-").map(Number) as [number, number | undefined];
      for (let d = a; d <= (b ?? a); d++) set.add(d % 7);
    }
    days = dowText(set);
  }
  if (h === "*") return `every hour at :${pad(minute)}${days ? ` on ${days}` : ""}`;
  if (!/^\d+$/.test(h)) return `cron "${cron}"`;
  return `${days ? `on ${days}` : "every day"} at ${pad(Number(h))}:${pad(minute)}`;
}

/**
 * Read a schedule: cron (5 fields, or 6 with seconds first), PRestic's human forms
 * (`daily at 02:00`, `mon,tue at 12:00`, `mon..fri at 06:15`, `monthly at 03:00`, `hourly`,
 * `daily at *:30`, `every 15 minutes`) or a bare preset word whose time comes from `presets`.
 * Throws an Error whose message quotes the text and says what was expected.
 */
export function parseSchedule(text: string, options: ParseOptions = {}): Schedule {
  const src = typeof text === "string" ? text.trim() : "";
  const timezone = resolveTimezone(options.timezone);
  const presets = resolvePresets(options.presets);
  if (!src) throw new Error(`invalid schedule "": it is empty; ${EXAMPLES}`);
  try {
    const parsed = parseHuman(src, presets) ?? parseCron(src.replace(/\s+/g, " "), timezone);
    const c = compile(parsed.cron, timezone);
    if (!c.nextRun(new Date())) throw new ScheduleError("it never fires (no such date)");
    return { text: src, cron: parsed.cron, description: parsed.description, timezone, kind: parsed.kind };
  } catch (err) {
    if (err instanceof ScheduleError) throw new Error(`invalid schedule "${src}": ${err.message}`);
    throw err;
  }
}

/** The first instant of `schedule` strictly after `after` (epoch ms), or null if there is none. */
export function nextAfter(schedule: Pick<Schedule, "cron" | "timezone">, after: number): number | null {
  const d = cronOf(schedule).nextRun(new Date(after));
  return d ? d.getTime() : null;
}

/** The last instant of `schedule` at or before `at` (epoch ms), or null if there is none. */
export function latestAtOrBefore(schedule: Pick<Schedule, "cron" | "timezone">, at: number): number | null {
  // previousRuns excludes its reference instant, so look from one millisecond later.
  const d = cronOf(schedule).previousRuns(1, new Date(at + 1))[0];
  return d ? d.getTime() : null;
}

/**
 * The next `count` instants of a schedule strictly after `from`. A string is parsed first
 * (in the runtime's timezone with default presets).
 */
export function nextRuns(schedule: Schedule | string, from: Date | number, count: number): Date[] {
  const s = typeof schedule === "string" ? parseSchedule(schedule) : schedule;
  const out: Date[] = [];
  let t = typeof from === "number" ? from : from.getTime();
  for (let i = 0; i < count; i++) {
    const n = nextAfter(s, t);
    if (n === null) break;
    out.push(new Date(n));
    t = n;
  }
  return out;
}

/** The runtime's own IANA zone (what `new Date().getHours()` uses), or UTC when it has none. */
export function defaultTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const known = new Map<string, string>();

/**
 * The canonical IANA name for `tz` ("europe/berlin" -> "Europe/Berlin"), the runtime's zone
 * when `tz` is blank, or an Error a user can act on.
 */
export function resolveTimezone(tz?: string | null): string {
  const name = (tz ?? "").trim();
  if (!name) return defaultTimezone();
  const hit = known.get(name);
  if (hit) return hit;
  let canonical: string;
  try {
    canonical = new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new Error(`unknown timezone "${name}": expected an IANA name like "Europe/Berlin", "America/New_York" or "UTC"`);
  }
  known.set(name, canonical);
  return canonical;
}

/** Wall-clock fields of an instant in a zone. */
export interface ZonedParts {
  year: number;
  month: number;
  day: number;
  weekday: number; // 0 = Sunday
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

export function zonedParts(instant: number, tz: string): ZonedParts {
  let fmt = formatters.get(tz);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", weekday: "short",
      year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
    });
    formatters.set(tz, fmt);
  }
  const out: ZonedParts = { year: 0, month: 0, day: 0, weekday: 0, hour: 0, minute: 0, second: 0 };
  for (const part of fmt.formatToParts(instant)) {
    switch (part.type) {
      case "weekday": out.weekday = WEEKDAYS.indexOf(part.value); break;
      case "year": out.year = Number(part.value); break;
      case "month": out.month = Number(part.value); break;
      case "day": out.day = Number(part.value); break;
      case "hour": out.hour = Number(part.value); break;
      case "minute": out.minute = Number(part.value); break;
      case "second": out.second = Number(part.value); break;
    }
  }
  return out;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number): string => String(n).padStart(2, "0");

/**
 * A short local time for a node status: "Mon 02:00" within the coming week, "3 Mar 02:00" beyond
 * it, with seconds only when they are not zero, so "next: " plus this stays under 20 characters.
 */
export function shortWhen(instant: number, tz: string, now: number): string {
  const p = zonedParts(instant, tz);
  const time = `${pad(p.hour)}:${pad(p.minute)}${p.second ? `:${pad(p.second)}` : ""}`;
  const within = instant - now < 6.5 * 86_400_000;
  return within ? `${WEEKDAYS[p.weekday]} ${time}` : `${p.day} ${MONTHS[p.month - 1]} ${time}`;
}

/** "2025-03-30 03:00:00 CEST"-style text for previews and logs. */
export function longWhen(instant: number, tz: string): string {
  const p = zonedParts(instant, tz);
  const zone = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "short" })
    .formatToParts(instant).find((x) => x.type === "timeZoneName")?.value ?? tz;
  return `${WEEKDAYS[p.weekday]} ${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)} ${zone}`;
}

/**
 * What to do about scheduled instants that passed while the scheduler could not fire them
 * (Node-RED stopped, the flow was not deployed, the machine slept):
 * - `skip`: nothing; wait for the next instant.
 * - `startup`: fire once, as soon as the scheduler is back, for the most recent missed instant.
 * - `within`: the same, but only if that instant is at most `hours` old.
 */
export type MissedPolicy = { mode: "skip" } | { mode: "startup" } | { mode: "within"; hours: number };

const USAGE = `expected "skip", "startup" or "within:N" (N hours)`;

/** Read "skip", "startup", "within:6" (or "within" with `hours` given apart, as editor forms do). */
export function parseMissedPolicy(input?: string | MissedPolicy | null, hours?: number | string | null): MissedPolicy {
  if (input && typeof input === "object") return parseMissedPolicy(input.mode, input.mode === "within" ? input.hours : undefined);
  const raw = (input ?? "").trim().toLowerCase();
  if (raw === "" || raw === "skip") return { mode: "skip" };
  if (raw === "startup") return { mode: "startup" };
  const m = /^within(?::\s*(.*))?$/.exec(raw);
  if (!m) throw new Error(`invalid missed-run policy "${input}": ${USAGE}`);
  const h = m[1] !== undefined ? m[1] : hours;
  const n = typeof h === "number" ? h : h === undefined || h === null || String(h).trim() === "" ? NaN : Number(h);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`invalid missed-run policy "${input}": the number of hours must be more than 0; ${USAGE}`);
  }
  return { mode: "within", hours: n };
}

export function formatMissedPolicy(p: MissedPolicy): string {
  return p.mode === "within" ? `within:${p.hours}` : p.mode;
}

/** Whether a catch-up fire is due for a missed instant `ageMs` old. */
export function catchUp(p: MissedPolicy, ageMs: number): boolean {
  if (p.mode === "skip") return false;
  if (p.mode === "startup") return true;
  return ageMs <= p.hours * 3_600_000;
}

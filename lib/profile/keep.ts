import type { EffectiveProfile } from "./resolve";

/** A forget keep policy, as restic's --keep-* flags (the same shape as the engine's ForgetPolicy). */
export interface KeepPolicy {
  last?: number; hourly?: number; daily?: number; weekly?: number; monthly?: number; yearly?: number;
  within?: string;
  tags?: string[];
}

const COUNTS = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;

/**
 * The profile's keep policy (its keep-* options, inherited like any other), or null when it
 * sets none: a forget must then name its own, never fall back to removing everything.
 */
export function keepOf(p: EffectiveProfile): KeepPolicy | null {
  const o = p.options;
  const k: KeepPolicy = {};
  for (const c of COUNTS) {
    const v = o[`keep-${c}`];
    if (v !== undefined && v > 0) k[c] = v;
  }
  if (o["keep-within"]) k.within = o["keep-within"];
  if (o["keep-tag"]?.length) k.tags = [...o["keep-tag"]];
  return Object.keys(k).length ? k : null;
}

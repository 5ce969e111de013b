/**
 * restic for the snapshot browser: one profile's plan (repository and password in the
 * environment, never on the command line), at most `concurrency` processes at once, each run
 * through the one runner (runner.ts, lib/runs/command.ts) and its failure classified. Listing,
 * diff, archive and restore all reach restic through this.
 */
import { createHash } from "node:crypto";
import type { EffectiveProfile } from "../profile/resolve";
import { profileToRestic } from "../profile/restic";
import { ProfileError } from "../profile/options";
import { detectResticVersion, type ResticVersion } from "../engines/restic";
import type { ProcessPlan } from "../engines/types";
import { withPriorities } from "../runs/process";
import { startRestic, readNdjson, Slots, type Exit } from "./runner";
import { resticFailure, type FailureContext } from "./errors";
import { SnapshotError } from "./validate";

export function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

export function time(v: unknown): number | null {
  if (typeof v !== "string") return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

export function kindOf(o: Record<string, unknown>): string | null {
  return str(o.message_type) ?? str(o.struct_type);
}

/**
 * Work nobody waits for (indexing a snapshot) gives way to everything else: restic at idle CPU
 * and disk priority (nice 19, ionice idle), which a backup or a browse outruns at once.
 */
export function backgroundPlan(plan: ProcessPlan): ProcessPlan {
  return { ...plan, ...withPriorities({ ...plan, cpuPriority: "idle", ioPriority: "idle" }), cpuPriority: undefined, ioPriority: undefined };
}

/** The repository a profile names, as a key: two profiles of one repository share listings and indexes. */
export function repoKey(p: EffectiveProfile): string {
  const o = p.options;
  return createHash("sha256").update(JSON.stringify([o.repository ?? null, o["repository-file"] ?? null, o.option ?? []])).digest("hex").slice(0, 24);
}

export class ResticAccess {
  readonly slots: Slots;

  constructor(concurrency: number, readonly timeoutMs: number) {
    this.slots = new Slots(concurrency);
  }

  plan(p: EffectiveProfile, command: string, args: string[]): ProcessPlan {
    try {
      return profileToRestic(p, command, args);
    } catch (err) {
      if (err instanceof ProfileError) throw new SnapshotError(409, err.message);
      throw err;
    }
  }

  async version(p: EffectiveProfile): Promise<ResticVersion> {
    try {
      return await detectResticVersion(p.options.executable ?? "restic");
    } catch (err) {
      throw new SnapshotError(500, (err as Error).message);
    }
  }

  /** Runs restic to its end, handing NDJSON objects to `each`; throws the classified failure. */
  async ndjson(p: EffectiveProfile, command: string, args: string[], ctx: FailureContext, each: (o: Record<string, unknown>) => boolean | void | Promise<boolean | void>, timeoutMs: number | undefined = this.timeoutMs, background = false): Promise<Exit> {
    const plan = background ? backgroundPlan(this.plan(p, command, args)) : this.plan(p, command, args);
    return this.slots.run(async () => {
      const proc = startRestic(plan, { timeoutMs });
      let stopped = false;
      try {
        await readNdjson(proc.stdout, (o) => {
          const r = each(o);
          if (r === false) stopped = true;
          return r;
        });
      } catch (err) {
        proc.kill();
        await proc.done;
        throw err;
      }
      if (stopped) proc.kill();
      const exit = await proc.done;
      if (!stopped && (exit.code !== 0 || exit.spawnError)) throw resticFailure(exit, ctx);
      return exit;
    });
  }

  /** Plain-text output line by line (restic < 0.13 has no diff --json). */
  async text(p: EffectiveProfile, command: string, args: string[], ctx: FailureContext, each: (line: string) => void): Promise<void> {
    const plan = this.plan(p, command, args);
    await this.slots.run(async () => {
      const proc = startRestic(plan, { timeoutMs: this.timeoutMs });
      let rest = "";
      proc.stdout.setEncoding("utf8");
      proc.stdout.on("data", (s: string) => {
        const lines = (rest + s).split("\n");
        rest = lines.pop() ?? "";
        if (rest.length > 1024 * 1024) rest = "";
        for (const l of lines) each(l);
      });
      const exit = await proc.done;
      if (rest) each(rest);
      if (exit.code !== 0 || exit.spawnError) throw resticFailure(exit, ctx);
    });
  }
}

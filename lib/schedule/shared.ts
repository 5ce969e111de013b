import { join } from "node:path";
import { Scheduler, type SchedulerOptions } from "./scheduler";

const shared = new Map<string, Scheduler>();

/** Where the schedule state of a Highball home lives. */
export function scheduleStateFile(home: string): string {
  return join(home, "schedule", "state.json");
}

/**
 * The one Scheduler of a Highball home in this process: every trigger of a runtime shares its
 * timer and its state file. `options` apply only when it is first created.
 */
export function sharedScheduler(home: string, options: Omit<SchedulerOptions, "stateFile"> = {}): Scheduler {
  const file = scheduleStateFile(home);
  let s = shared.get(file);
  if (!s) {
    s = new Scheduler({ ...options, stateFile: file });
    shared.set(file, s);
  }
  return s;
}

/** Close and forget every shared Scheduler (tests, shutdown). */
export async function closeSharedSchedulers(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map((s) => s.close()));
}

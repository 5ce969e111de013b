/** Time as the scheduler sees it: wall-clock instants and one-shot timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process clock. `unref` lets a plain script exit while triggers are still registered. */
export function realClock(options: { unref?: boolean } = {}): Clock {
  return {
    now: () => Date.now(),
    setTimeout(fn, ms) {
      const t = setTimeout(fn, ms);
      if (options.unref) t.unref();
      return t;
    },
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  };
}

interface ManualTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to, for tests and simulations: `advance` runs every timer
 * that falls due on the way, in order, with `now()` equal to that timer's instant.
 */
export class ManualClock implements Clock {
  private current: number;
  private timers: ManualTimer[] = [];
  private seq = 0;

  constructor(start: number | Date | string) {
    this.current = typeof start === "number" ? start : new Date(start).getTime();
    if (!Number.isFinite(this.current)) throw new Error(`ManualClock: "${String(start)}" is not a date`);
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: ++this.seq, at: this.current + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move forward `ms`, running timers due on the way; returns how many ran. */
  advance(ms: number): number {
    return this.advanceTo(this.current + ms);
  }

  advanceTo(target: number | Date | string): number {
    const end = typeof target === "number" ? target : new Date(target).getTime();
    let ran = 0;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.current = Math.max(this.current, next.at);
      next.fn();
      ran++;
    }
    this.current = Math.max(this.current, end);
    return ran;
  }

  /** Set the wall clock without running timers, as a suspended machine or a clock step would. */
  jump(to: number | Date | string): void {
    this.current = typeof to === "number" ? to : new Date(to).getTime();
  }
}

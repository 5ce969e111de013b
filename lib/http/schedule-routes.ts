/**
 * The schedule trigger's admin routes:
 *   GET  highball/schedule/preview?expr=&tz=&count=&<preset times>  the next runs, or why not (400)
 *   POST highball/schedule/:id/trigger                                fire a deployed trigger now
 */
import type { Request, Response } from "express";
import { parseSchedule, nextRuns, longWhen, type FireEvent } from "../schedule";
import { presetsOf } from "../schedule/trigger";
import { fail, mountOnce, type AdminRED } from "./shared";

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `fireNow(id)` fires the deployed trigger with that id, or answers null when there is none. */
export function mountScheduleRoutes(RED: Pick<AdminRED, "httpAdmin" | "auth">, fireNow: (id: string) => FireEvent | null): void {
  mountOnce(RED, "schedule", (app, { read, write }) => {
    // Live validation for the editor: the next runs of what is typed, or the sentence saying why not.
    app.get("/highball/schedule/preview", read, (req: Request, res: Response) => {
      const q = req.query as Record<string, unknown>;
      const count = Math.min(Math.max(Number(q.count) || 5, 1), 20);
      try {
        const s = parseSchedule(typeof q.expr === "string" ? q.expr : "", {
          timezone: typeof q.tz === "string" ? q.tz : undefined,
          presets: presetsOf(q),
        });
        const next = nextRuns(s, Date.now(), count).map((d) => d.getTime());
        res.json({ ...s, next: next.map((t) => new Date(t).toISOString()), local: next.map((t) => longWhen(t, s.timezone)) });
      } catch (err) {
        fail(res, 400, messageOf(err));
      }
    });

    app.post("/highball/schedule/:id/trigger", write, (req: Request, res: Response) => {
      let ev: FireEvent | null;
      try {
        ev = fireNow(String(req.params.id));
      } catch (err) {
        return fail(res, 500, messageOf(err));
      }
      if (!ev) return fail(res, 404, `no deployed schedule trigger has id "${req.params.id}"`);
      res.json({ firedAt: ev.firedAt });
    });
  });
}

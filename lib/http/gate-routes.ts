/** GET highball/gate: what holds and what waits in the conflict gate, for the sidebar and for people. */
import type { GateStatus } from "../conflict/gate";
import { fail, mountOnce, type AdminRED } from "./shared";

export function mountGateRoutes(RED: Pick<AdminRED, "httpAdmin" | "auth">, status: () => GateStatus): void {
  mountOnce(RED, "gate", (app, { read }) => {
    app.get("/highball/gate", read, (_req, res) => {
      try {
        res.json(status());
      } catch (err) {
        fail(res, 500, err instanceof Error ? err.message : String(err));
      }
    });
  });
}

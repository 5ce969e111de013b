/** POST highball/notify/:id/test: a test message through a deployed notify node's channels. */
import { sendTest, type NotifyConfig } from "../notify";
import { fail, mountOnce, type AdminRED } from "./shared";

/** `configOf(id)` is the settings of the deployed notify node with that id, or null. */
export function mountNotifyRoutes(RED: Pick<AdminRED, "httpAdmin" | "auth">, configOf: (id: string) => NotifyConfig | null): void {
  mountOnce(RED, "notify", (app, { write }) => {
    app.post("/highball/notify/:id/test", write, (req, res) => {
      const config = configOf(String(req.params.id ?? ""));
      if (!config) return fail(res, 404, "No deployed notify node has this id: deploy the flow, then try again.");
      sendTest(config).then(
        (r) => res.status(r.ok ? 200 : r.results.length ? 502 : 400).json(r),
        () => fail(res, 500, "The test message could not be sent."),
      );
    });
  });
}

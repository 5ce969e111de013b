import type { NodeAPI } from "node-red";
import { mountAdminRoutes } from "../../lib/http/routes";
import { mountComms, type CommsRED } from "../../lib/http/comms";
import { engineOf } from "../../nodes/shared/runtime";

/**
 * The runtime half of the sidebar plugin: the admin routes the "Backups" tab uses, and the
 * bridge that tells open editors about runs as they start, progress and end (lib/http/comms.ts).
 * Node modules mount the same routes too (mounting twice does nothing), so the API is there
 * even where plugins are not loaded (the test helper).
 */
export = function (RED: NodeAPI) {
  RED.plugins.registerPlugin("highball-sidebar", {
    type: "highball-sidebar",
    onadd() {
      mountAdminRoutes(RED);
      // No admin app (httpAdminRoot: false) means no editor to tell.
      if ((RED.httpAdmin as unknown) && RED.comms) mountComms(RED as unknown as CommsRED, engineOf(RED));
    },
  } as never);
};

import type { NodeAPI } from "node-red";
import { mountAdminRoutes } from "../../lib/http/routes";
import { mountSnapshotRoutes } from "../../lib/http/snapshot-routes";

/**
 * The runtime half of the "Snapshots" sidebar tab: the snapshot browser's admin routes.
 * mountAdminRoutes mounts them too (mounting twice does nothing), so they are there wherever
 * the nodes load, also where plugins are not loaded (the test helper).
 */
export = function (RED: NodeAPI) {
  RED.plugins.registerPlugin("highball-snapshots", {
    type: "highball-snapshots",
    onadd() {
      mountAdminRoutes(RED);
      mountSnapshotRoutes(RED);
    },
  } as never);
};

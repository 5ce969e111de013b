import type { NodeAPI } from "node-red";
import { mountImportRoutes } from "../../lib/http/import-routes";
import type { AdminRED } from "../../lib/http/routes";

/**
 * The runtime half of the import plugin: the routes its editor dialog posts a config file to
 * (lib/http/import-routes.ts). The node modules mount the same routes through mountAdminRoutes
 * (mounting twice does nothing), so the API is there where plugins are not loaded too.
 */
export = function (RED: NodeAPI) {
  RED.plugins.registerPlugin("highball-import", {
    type: "highball-import",
    onadd() {
      // No admin app (httpAdminRoot: false) means no editor to import into.
      if (RED.httpAdmin as unknown) mountImportRoutes(RED as unknown as AdminRED);
    },
  } as never);
};

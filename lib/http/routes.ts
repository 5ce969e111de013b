/**
 * Every admin route under /highball/, mounted by one call. A plain function of RED, so the
 * sidebar plugin, the node modules and the tests all mount the same routes; each module mounts
 * itself once per admin app (shared.ts's mountOnce), so calling this twice does nothing.
 */
import { mountRunRoutes } from "./run-routes";
import { mountRemoteRoutes } from "./remote-routes";
import { mountImportRoutes } from "./import-routes";
import { mountSnapshotRoutes } from "./snapshot-routes";
import { mountMetricsRoutes } from "./metrics-routes";
import { mountOperationRoutes } from "./operation-routes";

export type { AdminRED } from "./shared";
import type { AdminRED } from "./shared";

export function mountAdminRoutes(RED: AdminRED): void {
  mountRunRoutes(RED);
  mountRemoteRoutes(RED);
  mountImportRoutes(RED);
  mountSnapshotRoutes(RED);
  mountMetricsRoutes(RED);
  mountOperationRoutes(RED);
}

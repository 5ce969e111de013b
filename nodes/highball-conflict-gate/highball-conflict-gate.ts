import type { NodeAPI, Node, NodeDef } from "node-red";
import { Gate } from "../../lib/conflict/gate";
import { Door } from "../../lib/conflict/door";
import { mountGateRoutes } from "../../lib/http/gate-routes";
import { deployedJobs } from "../../lib/job/authority";
import { engineOf } from "../shared/runtime";

const TYPE = "highball-conflict-gate";

interface GateDef extends NodeDef {
  delay?: string | number;
  maxWait?: string | number;
  tags?: string;
  destinations?: string;
}

export = function (RED: NodeAPI) {
  mountGateRoutes(RED, () => Gate.of(engineOf(RED)).status());

  function ConflictGateNode(this: Node, def: GateDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const door = new Door(Gate.of(engineOf(RED)), { id: node.id, delay: def.delay, maxWait: def.maxWait, tags: def.tags, destinations: def.destinations }, {
      look: (l) => node.status(l),
      log: (t) => node.log(t),
      warn: (t) => node.warn(t),
      repositoryOf: (profile) => engineOf(RED).repositoryOf(profile),
      deployed: () => deployedJobs(engineOf(RED).jobs.values()),
    });
    if (door.configError) node.error(door.configError);

    node.on("input", (msg, send, done) => {
      door.input(msg as unknown as Record<string, unknown>, (out) => send(out as never), (err) => (err ? done(err) : done()));
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      door.close();
      done();
    });
  }

  RED.nodes.registerType(TYPE, ConflictGateNode);
};

import type { NodeAPI, Node, NodeDef } from "node-red";
import { parseProfileOptions, type ProfileDef } from "../../lib/profile";
import { engineOf, message } from "../shared/runtime";
import { mountAdminRoutes } from "../../lib/http/routes";

interface ProfileConfigDef extends NodeDef {
  options?: Record<string, unknown>;
}
type Creds = { password: string };

/** A profile's options as stored in the flow: PRestic's keys, values as typed in the editor. */
function profileDef(def: ProfileConfigDef, password: string | undefined): ProfileDef {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(def.options ?? {})) {
    if (v === "" || v === null || v === undefined) continue;
    options[k] = v;
  }
  return { options, password: password || undefined };
}

export = function (RED: NodeAPI) {
  mountAdminRoutes(RED);

  function ProfileConfigNode(this: Node<Creds>, def: ProfileConfigDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const engine = engineOf(RED);
    const name = (def.name || "").trim();
    if (!name) {
      node.error("a restic profile needs a name (inherit and msg.job.profile refer to it)");
      return;
    }
    const stored = profileDef(def, node.credentials?.password);
    try {
      parseProfileOptions(name, stored);
    } catch (err) {
      // Kept registered: the restic node names the same problem when a run needs this profile.
      node.error(message(err));
    }
    engine.profiles.set(node.id, { name, def: stored });
    node.on("close", () => {
      engine.profiles.delete(node.id);
    });
  }

  RED.nodes.registerType<Node<Creds>, ProfileConfigDef, unknown, Creds>("highball-profile-config", ProfileConfigNode, {
    credentials: { password: { type: "password" } },
  });
};


import type { NodeAPI, Node, NodeDef } from "node-red";
import { parseProfileOptions, profileProblem, resolveProfile, type ProfileDef } from "../../lib/profile";
import { removeLocksLeft } from "../../lib/profile/repository";
import { engineOf, message, afterStart } from "../shared/runtime";
import { mountAdminRoutes } from "../../lib/http/routes";

interface ProfileConfigDef extends NodeDef {
  options?: Record<string, unknown>;
}
type Creds = { password: string; restPassword: string };

/** A profile's options as stored in the flow: PRestic's keys, values as typed in the editor. */
function profileDef(def: ProfileConfigDef, password: string | undefined, restPassword: string | undefined): ProfileDef {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(def.options ?? {})) {
    if (v === "" || v === null || v === undefined) continue;
    options[k] = v;
  }
  return { options, password: password || undefined, restPassword: restPassword || undefined };
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
    const stored = profileDef(def, node.credentials?.password, node.credentials?.restPassword);
    let parsed = true;
    try {
      parseProfileOptions(name, stored);
    } catch (err) {
      // Kept registered: the restic node names the same problem when a run needs this profile.
      node.error(message(err));
      parsed = false;
    }
    engine.profiles.set(node.id, { name, def: stored });
    // Said at deploy, once every profile is there to inherit from: a repository without a
    // password, a missing parent, a cycle. Every run of the profile would fail with it.
    if (parsed) {
      afterStart(RED, node, () => {
        try {
          const problem = profileProblem(name, engine.profileSet());
          if (problem) node.error(`${problem}: every run of this profile fails until it is set`);
        } catch (err) {
          node.error(message(err)); // a callback of the runtime's: never let it throw
        }
      });
    }
    // A restic run a crash interrupted (kill -9, power loss) left its lock in this profile's
    // repository: remove it now, so the next exclusive command (check, prune) does not fail.
    afterStart(RED, node, () => {
      void engine.takeLocksLeft(name).then(async (left) => {
        if (!left.length) return;
        const runs = left.map((o) => `run ${o.runId} of job "${o.job}"`).join(", ");
        try {
          const r = await removeLocksLeft(resolveProfile(name, engine.profileSet()));
          RED.log.info(`[highball] profile "${name}": ${runs} was interrupted when Node-RED stopped; ${r.removed ? `removed ${r.removed} lock${r.removed === 1 ? "" : "s"} it left in the repository (restic unlock)` : "it left no lock in the repository"}`);
        } catch (err) {
          node.warn(`${runs} was interrupted when Node-RED stopped and may have left a lock in the repository of profile "${name}", which could not be removed: ${message(err)}`);
        }
      }, (err: unknown) => node.warn(`the runs interrupted when Node-RED stopped could not be read, so locks they left in the repository of profile "${name}" stay: ${message(err)}`));
    });
    node.on("close", () => {
      engine.profiles.delete(node.id);
    });
  }

  RED.nodes.registerType<Node<Creds>, ProfileConfigDef, unknown, Creds>("highball-profile-config", ProfileConfigNode, {
    credentials: { password: { type: "password" }, restPassword: { type: "password" } },
  });
};


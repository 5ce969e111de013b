import type { NodeAPI, Node, NodeDef } from "node-red";
import { validateJob, jobKey } from "../../lib/job/validate";
import type { Job } from "../../lib/job/schema";
import { resolveProfile, splitWords, withPassword, type EffectiveProfile } from "../../lib/profile";
import { resticStep, detectResticVersion, type ResticVersion, type ForgetPolicy } from "../../lib/engines/restic";
import { lockRetry } from "../../lib/engines/restic-retry";
import type { Step } from "../../lib/runs/engine";
import { jobResources } from "../../lib/conflict/resources";
import { engineOf, message } from "../shared/runtime";
import { runNode, type RunMsg } from "../shared/run-node";
import { AuthorityError, checkMessageResticCommand, checkMessageResticArg } from "../../lib/job/authority";
import { indexBackups } from "../../lib/http/snapshot-routes";

interface ResticRunDef extends NodeDef {
  profile?: string;
  command?: string;
  args?: string;
  keepLast?: string; keepHourly?: string; keepDaily?: string; keepWeekly?: string; keepMonthly?: string; keepYearly?: string; keepWithin?: string;
  readDataSubset?: string;
  copyTo?: string;
  logTail?: number | string;
  acceptJobs?: boolean;
  allowDeletes?: boolean;
}

type OneShot = RunMsg & { command?: unknown; args?: unknown };

function keepPolicy(def: ResticRunDef): ForgetPolicy | undefined {
  const k: ForgetPolicy = {};
  for (const [field, key] of [["keepLast", "last"], ["keepHourly", "hourly"], ["keepDaily", "daily"], ["keepWeekly", "weekly"], ["keepMonthly", "monthly"], ["keepYearly", "yearly"]] as const) {
    const v = String(def[field] ?? "").trim();
    if (v === "") continue;
    if (!/^\d+$/.test(v)) throw new Error(`keep ${key} must be a whole number, not ${JSON.stringify(v)}`);
    k[key] = Number(v);
  }
  if (def.keepWithin && def.keepWithin.trim()) k.within = def.keepWithin.trim();
  return Object.keys(k).length ? k : undefined;
}

export = function (RED: NodeAPI) {
  function ResticRunNode(this: Node, def: ResticRunDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const engine = engineOf(RED);
    indexBackups(RED.settings);
    let configError: string | null = null;
    let keep: ForgetPolicy | undefined;
    let nodeArgs: string[] = [];
    try {
      keep = keepPolicy(def);
      nodeArgs = def.args && def.args.trim() ? splitWords(def.args) : [];
    } catch (err) {
      configError = message(err);
    }

    /** A profile by config node id or name, resolved with its ancestors. */
    const profile = (ref: string | undefined, what: string): EffectiveProfile => {
      const name = ref ? engine.profileName(ref) : null;
      if (!name) throw new Error(ref ? `${what} "${ref}" is not a deployed restic profile` : `no ${what}: set one in the job or in this node`);
      return resolveProfile(name, engine.profileSet());
    };

    runNode(RED, node, {
      logTail: Math.max(0, Math.min(Number(def.logTail ?? 20) || 0, 200)),
      configError,
      engine: "restic",
      acceptJobs: def.acceptJobs === true,
      allowDeletes: def.allowDeletes === true,
      ownProfile: def.profile || undefined,
      own: () => {
        const name = def.name || (def.profile ? engine.profileName(def.profile) : null) || "restic";
        return { key: name, name, engine: "restic", command: def.command?.trim() || "backup" };
      },
      async prepare(msg, auth) {
        const m = msg as OneShot;
        const own = def.profile ? engine.profileName(def.profile) : null;
        const raw: Job = auth.job ?? { name: def.name || own || "restic", engine: "restic", profile: def.profile || undefined };
        const job = validateJob({ ...raw, profile: raw.profile || def.profile || undefined });
        if (job.engine !== "restic") throw new Error(`job "${job.name}" uses the ${job.engine} engine; wire it to an rsync node`);
        if (job.enabled === false) { node.status({ fill: "grey", shape: "ring", text: "disabled: skipped" }); return null; }
        // The password is read now, so a missing one fails here, before restic starts.
        const eff = await withPassword(profile(job.profile, "profile"));

        // PRestic's one-shot mode: msg.command (and msg.args) replace the job's command.
        let argv: string[] | undefined;
        if (m.command !== undefined) {
          if (typeof m.command !== "string" || !/^[a-z][a-z0-9-]*$/.test(m.command)) throw new Error("msg.command must be a restic command such as \"snapshots\"");
          if (m.args !== undefined && !(Array.isArray(m.args) && m.args.every((a) => typeof a === "string"))) throw new Error("msg.args must be an array of strings");
          // A one-shot command comes from a message: the same allow-list as a job from one.
          const why = checkMessageResticCommand(m.command, def.allowDeletes === true) ?? ((m.args as string[] | undefined) ?? []).map(checkMessageResticArg).find((x) => x !== null);
          if (why) throw new AuthorityError(why);
          argv = [m.command, ...((m.args as string[] | undefined) ?? [])];
        } else if (def.command && def.command.trim()) {
          argv = [def.command.trim(), ...nodeArgs];
        }
        const copyRef = job.restic?.copyTo || def.copyTo || undefined;
        const copyTo = copyRef ? await withPassword(profile(copyRef, "copy destination profile")) : undefined;
        const version: ResticVersion = await detectResticVersion(eff.options.executable ?? "restic");
        const opts = { argv, copyTo, keep, readDataSubset: def.readDataSubset?.trim() || undefined, knownHostsFile: engine.knownHostsFile };
        const first = resticStep(job, eff, version, opts);
        const fresh = (retryLockMs?: number): Step => { const s = resticStep(job, eff, version, { ...opts, retryLockMs }); return { plan: s.plan, parser: s.parser }; };

        return {
          job, key: auth.id ?? jobKey(job), command: first.command, steps: [{ plan: first.plan, parser: first.parser }], tool: `restic ${version.version}`,
          resources: jobResources(job, { repository: eff.options.repository }), logDays: eff.options["prune-logs-after"],
          retry: lockRetry(eff, version, fresh), // wait-for-lock and stale locks, as every restic run
        };
      },
    });
  }

  RED.nodes.registerType("highball-restic-run", ResticRunNode);
};

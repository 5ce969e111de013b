/**
 * PRestic's config.ini → a flow: every profile becomes a highball-profile-config node (PRestic's
 * own keys), every task (a profile that, inherited, has a command and a repository, as PRestic
 * decides) becomes schedule → backup job → restic. Secrets never enter the flow.
 */
import type { Job } from "../job/schema";
import { jobProblems } from "../job/validate";
import { parseSchedule } from "../schedule/parse";
import { parseIni } from "../profile/ini";
import { canonicalKey, parseOption, OPTIONS, ProfileError } from "../profile/options";
import { resolveProfile, isSecretEnvName, repositoryUrlPassword, type ProfileDef } from "../profile/resolve";
import { splitWords } from "../profile/words";
import { FlowBuilder, TYPES, jobNodeFields, type ImportResult } from "./flow";

export interface PresticImportOptions {
  /** Label of the tab the tasks land on. */
  tab?: string;
}

/** A profile's INI values as they go into the node's `options`, with warnings for what stays out. */
function profileOptions(name: string, values: Record<string, string>, warnings: string[]): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(values)) {
    const canon = canonicalKey(key);
    if (!canon) {
      warnings.push(`unknown key "${key}" in profile "${name}" was not imported`);
      continue;
    }
    if (text.trim() === "") continue; // PRestic's template leaves keys empty: nothing to carry over
    if (canon === "password") {
      warnings.push(`profile "${name}" has a plain password; it was not imported: enter it as the profile's password in Node-RED (kept as a credential, never in the flow)`);
      continue;
    }
    // Any secret option, whichever spelling named it (env.RESTIC_REST_PASSWORD is rest-password).
    if (OPTIONS[canon]?.secret) {
      warnings.push(`${key} in profile "${name}" is a secret and was not imported (secrets never go into the flow): enter it in the profile's ${canon === "rest-password" ? "REST password" : canon} field (kept as a credential)`);
      continue;
    }
    if (canon === "password-keyring") {
      warnings.push(`profile "${name}" takes its password from PRestic's OS keyring ("${text}"), which Node-RED cannot read: enter the password in the profile`);
    }
    // restic takes no password as a flag, and the runtime refuses such flags: only a secret would be carried over.
    if (canon.startsWith("flag.") && /pass/i.test(canon.slice(5))) {
      warnings.push(`${key} in profile "${name}" was not imported: a password never goes on restic's command line or into the flow; use the profile's password (a credential), password-file or password-command`);
      continue;
    }
    if (canon.startsWith("env.") && isSecretEnvName(canon.slice(4))) {
      warnings.push(`${key} in profile "${name}" looks like a secret and was not imported (secrets never go into the flow): set it in Node-RED's own environment instead`);
      continue;
    }
    if (canon === "repository" && repositoryUrlPassword(text)) {
      const pw = repositoryUrlPassword(text)!;
      options[key] = text.replace(`:${pw}@`, "@");
      warnings.push(`the repository URL of profile "${name}" held a password; it was imported without it: enter it in the profile's REST password field (kept as a credential)`);
      continue;
    }
    try {
      parseOption(name, key, text);
    } catch (err) {
      if (!(err instanceof ProfileError)) throw err;
      warnings.push(`${err.message}; it was imported as written, fix it in the profile`);
      options[key] = text;
      continue;
    }
    const kind = OPTIONS[canon]?.kind;
    let value: unknown = kind === "list" ? splitWords(text, { what: key }) : text;
    if (canon === "option") {
      // An extended option named like a secret (s3.secret-key=...) stays out of the flow, as env.* secrets do.
      const list = value as string[];
      const kept = list.filter((kv) => !isSecretEnvName(kv.split("=")[0]!));
      if (kept.length < list.length) {
        warnings.push(`option ${list.filter((kv) => !kept.includes(kv)).map((kv) => kv.split("=")[0]).join(", ")} in profile "${name}" looks like a secret and was not imported: set it in Node-RED's own environment instead`);
        if (!kept.length) continue;
        value = kept;
      }
    }
    options[key] = value;
  }
  return options;
}

export function importPrestic(iniText: string, opts: PresticImportOptions = {}): ImportResult {
  const warnings: string[] = [];
  const sections = parseIni(iniText);
  const flow = new FlowBuilder("prestic", opts.tab ?? "PRestic tasks", "Imported from PRestic's config.ini");
  const defs = new Map<string, ProfileDef>();

  for (const s of sections) {
    // Tasks are found from what was imported, as the product will resolve it (passwords are not needed for that).
    const options = profileOptions(s.name, s.values, warnings);
    defs.set(s.name, { options });
    flow.config("profile", s.name, { type: TYPES.profile, options });
  }

  const seen = new Map<string, string>();
  for (const s of sections) {
    let p;
    try {
      p = resolveProfile(s.name, defs);
    } catch (err) {
      if (!(err instanceof ProfileError)) throw err;
      warnings.push(`${err.message}; no task was made from profile "${s.name}"`);
      continue;
    }
    const command = p.options.command ?? [];
    // PRestic's own rule for what is a task: a command and a repository, after inheritance.
    if (!command.length || !(p.options.repository || p.options["repository-file"])) {
      if (p.options.schedule && command.length === 0 && s.values.schedule) {
        warnings.push(`profile "${s.name}" has a schedule but no command, so (as in PRestic) it was not made a task`);
      }
      continue;
    }
    const job: Job = {
      name: s.name,
      engine: "restic",
      enabled: true,
      profile: s.name,
      restic: { command: command[0]!, args: [...command.slice(1), ...(p.options.args ?? [])], tags: [] },
      resources: [],
      timeoutSeconds: 0,
    };
    for (const problem of jobProblems(job)) warnings.push(`task "${s.name}": ${problem}`);
    const same = JSON.stringify([p.options.repository ?? p.options["repository-file"], job.restic, p.options.schedule ?? null]);
    const twin = seen.get(same);
    if (twin) warnings.push(`task "${s.name}" repeats task "${twin}" (same repository, command and schedule): PRestic ran both, and so will Node-RED unless you disable one`);
    else seen.set(same, s.name);

    flow.nextRow();
    // The profile by its config node's id, as the editor's picker stores it (so it counts as used).
    const jobNode = flow.place("job", "job", s.name, jobNodeFields({ ...job, profile: flow.id("profile", s.name) }));
    const run = flow.place("run", "restic", s.name, { type: TYPES.restic }, 2);
    flow.wire(jobNode, run);
    if (p.options.schedule) {
      try {
        parseSchedule(p.options.schedule);
      } catch (err) {
        warnings.push(`the schedule "${p.options.schedule}" of task "${s.name}" is not understood (${(err as Error).message}); it was imported as written, fix it in the schedule node`);
      }
      const trigger = flow.place("schedule", "schedule", s.name, { type: TYPES.schedule, schedule: p.options.schedule, timezone: "" });
      flow.wire(trigger, jobNode);
    }
  }
  return { nodes: flow.nodes, warnings };
}

/**
 * Highball's config.yaml → a flow. Each job becomes schedule → backup job → conflict gate →
 * rsync (or restic, for a restic destination, with a profile for its repository) → notify.
 * Global notification settings become notify nodes, Highball's restic maintenance becomes
 * forget and check jobs, deleted jobs come back as restorable job descriptors. Tokens and
 * passwords never enter the flow: each one is a warning asking the user to enter it.
 */
import { parse as parseYaml } from "yaml";
import type { Job, JobDestination, JobSource, PathEntry } from "../job/schema";
import { jobProblems } from "../job/validate";
import { checkRsyncArg } from "../engines/rsync-options";
import { parseSchedule } from "../schedule/parse";
import { repositoryUrlPassword } from "../profile/resolve";
import { FlowBuilder, TYPES, jobNodeFields, type ImportResult, type NodeRedFlowNode } from "./flow";

export interface DeletedJob { job: Job; deletedAt: string | null }

export interface HighballImportResult extends ImportResult {
  /** Highball's deleted_jobs, for the product's store of restorable jobs (not placed in the flow). */
  deletedJobs: DeletedJob[];
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : typeof v === "number" ? String(v) : undefined);
const bool = (v: unknown, dflt: boolean): boolean => (typeof v === "boolean" ? v : typeof v === "string" ? ["true", "yes", "on", "1"].includes(v.toLowerCase()) : dflt);
const int = (v: unknown): number | undefined => {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) ? n : undefined;
};
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && x.trim() !== "").map((x) => x.trim()) : []);

/** Highball's built-in preset times (services/schedule_loader.py). */
const HIGHBALL_PRESETS: Record<string, string> = { hourly: "0 * * * *", daily: "0 3 * * *", weekly: "0 3 * * 0", monthly: "0 3 1 * *" };
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const pad = (n: string): string => n.padStart(2, "0");

/** A Highball schedule as schedule-trigger fields, or null for "manual". */
function scheduleFields(raw: unknown, presets: Record<string, string>, where: string, warnings: string[]): Record<string, unknown> | null {
  const s = (str(raw) ?? "manual").toLowerCase();
  if (s === "manual") return null;
  const cron = presets[s] ?? HIGHBALL_PRESETS[s];
  if (cron) {
    // Keep the word (the trigger shows "daily") when the preset's cron is one the trigger's fields can say.
    const f = cron.trim().split(/\s+/);
    if (f.length === 5) {
      const [mi, h, dom, mon, dow] = f as [string, string, string, string, string];
      const num = (x: string) => /^\d{1,2}$/.test(x);
      if (s === "hourly" && num(mi) && h === "*" && dom === "*" && mon === "*" && dow === "*") return { schedule: "hourly", hourlyMinute: Number(mi) };
      if (num(mi) && num(h) && mon === "*") {
        const time = `${pad(h)}:${pad(mi)}`;
        if (s === "daily" && dom === "*" && dow === "*") return { schedule: "daily", dailyTime: time };
        if (s === "weekly" && dom === "*" && /^[0-7]$/.test(dow)) return { schedule: "weekly", weeklyDay: WEEKDAYS[Number(dow)], weeklyTime: time };
        if (s === "monthly" && num(dom) && dow === "*") return { schedule: "monthly", monthlyDay: Number(dom), monthlyTime: time };
      }
    }
    return { schedule: cron };
  }
  if (s.includes(" ")) {
    try {
      parseSchedule(s);
    } catch (err) {
      warnings.push(`the schedule "${s}" of ${where} is not understood (${(err as Error).message}); it was imported as written`);
    }
    return { schedule: s };
  }
  warnings.push(`the schedule "${s}" of ${where} is not one Highball runs (manual, hourly, daily, weekly, monthly or cron); ${where} was imported without a schedule`);
  return null;
}

function unknownKeys(o: Obj, known: readonly string[], where: string, warnings: string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) warnings.push(`unknown key "${k}" in ${where} was not imported`);
}

const JOB_KEYS = [
  "source_type", "source_config", "dest_type", "dest_config", "schedule", "enabled", "respect_conflicts", "notifications",
  "includes", "excludes", "source", "dry_run_on_schedule", "maintenance_config", "source_ssh_validated_at", "deleted_at", "job_name", "name",
] as const;
const SOURCE_KEYS = ["hostname", "host", "username", "user", "port", "path", "source_paths", "source_string", "source_type", "container_runtime"] as const;
const DEST_KEYS = ["dest_string", "hostname", "host", "username", "user", "port", "path", "share", "rsync_options", "protocol", "double_colon"] as const;
const RESTIC_KEYS = [
  "dest_string", "repo_type", "repo_uri", "password", "rest_hostname", "rest_port", "rest_path", "rest_use_https", "rest_username", "rest_password",
  "s3_endpoint", "s3_bucket", "s3_prefix", "aws_access_key", "aws_secret_key", "rclone_remote", "rclone_path", "sftp_hostname", "sftp_username", "sftp_path", "local_path",
] as const;

/** "user@host:/path", "host:/path" or "/path". */
function splitLocation(s: string): { user?: string; host?: string; path: string } {
  const m = /^(?:([^@/:]+)@)?([^/:]+):(.*)$/.exec(s);
  if (m && !s.startsWith("/")) return { user: m[1], host: m[2], path: m[3] || "/" };
  return { path: s };
}

function source(name: string, jc: Obj, warnings: string[]): JobSource {
  const sc = isObj(jc.source_config) ? jc.source_config : {};
  unknownKeys(sc, SOURCE_KEYS, `the source of job "${name}"`, warnings);
  let host = str(sc.hostname) ?? str(sc.host);
  let user = str(sc.username) ?? str(sc.user);
  const port = int(sc.port);
  const paths: PathEntry[] = [];
  if (Array.isArray(sc.source_paths)) {
    for (const p of sc.source_paths) {
      if (!isObj(p) || !str(p.path)) { warnings.push(`a source path of job "${name}" has no path and was not imported`); continue; }
      const entry: PathEntry = { path: str(p.path)! };
      const inc = strings(p.includes);
      const exc = strings(p.excludes);
      if (inc.length) entry.include = inc;
      if (exc.length) entry.exclude = exc;
      paths.push(entry);
    }
  } else if (str(sc.path)) {
    paths.push({ path: str(sc.path)! });
  } else {
    const text = str(sc.source_string) ?? str(jc.source);
    if (text) {
      const loc = splitLocation(text);
      host ??= loc.host;
      user ??= loc.user;
      paths.push({ path: loc.path });
    }
  }
  // Old configs kept one include/exclude list per job: it applies to every path.
  const inc = strings(jc.includes);
  const exc = strings(jc.excludes);
  for (const p of paths) {
    if (inc.length) p.include = [...(p.include ?? []), ...inc];
    if (exc.length) p.exclude = [...(p.exclude ?? []), ...exc];
  }
  const type = (str(jc.source_type) ?? (host ? "ssh" : "local")) === "ssh" ? "ssh" : "local";
  if (str(jc.source_type) && !["ssh", "local"].includes(str(jc.source_type)!)) warnings.push(`job "${name}": source type "${str(jc.source_type)}" is unknown; imported as local`);
  const out: JobSource = { type, paths };
  if (type === "ssh") {
    if (host) out.host = host;
    if (user) out.user = user;
    if (port) out.port = port;
    // Highball turned host-key checking off; here keys are checked, and accepted once when new.
    out.acceptNewHostKey = true;
  }
  if (sc.container_runtime) warnings.push(`job "${name}": the container runtime found by Highball ("${String(sc.container_runtime)}") is not used; rsync and restic run directly on the host`);
  return out;
}

interface RsyncFields { delete: boolean; checksum: boolean; compress: boolean; bwlimit: string; exclude: string[]; args: string[] }

/** Highball's rsync_options string (or its defaults) as the job's rsync fields. */
function rsyncFields(name: string, dc: Obj, warnings: string[]): RsyncFields {
  const f: RsyncFields = { delete: false, checksum: false, compress: false, bwlimit: "", exclude: [], args: [] };
  const custom = str(dc.rsync_options);
  // Highball's defaults: -a --info=stats1 --delete --delete-excluded
  const words = custom ? custom.split(/\s+/) : ["--delete", "--delete-excluded"];
  const expanded: string[] = [];
  for (const w of words) {
    if (/^-[A-Za-z]{2,}$/.test(w)) for (const c of w.slice(1)) expanded.push(`-${c}`);
    else expanded.push(w);
  }
  for (const w of expanded) {
    if (["-a", "--archive", "-r", "--recursive", "-t", "--times", "-p", "--perms", "-o", "--owner", "-g", "--group", "-D", "-l", "--links"].includes(w)) continue;
    // Output format is the product's to choose.
    if (/^(--info=|--stats$|--progress$|-P$|-h$|--human-readable$|--no-h|--out-format=|--itemize-changes$|-i$|-v$|--verbose$|--debug=)/.test(w)) continue;
    if (w === "--delete") { f.delete = true; continue; }
    if (w === "-c" || w === "--checksum") { f.checksum = true; continue; }
    if (w === "-z" || w === "--compress") { f.compress = true; continue; }
    const bw = /^--bwlimit=(.+)$/.exec(w);
    if (bw && /^[0-9]+(\.[0-9]+)?[KMGkmg]?$/.test(bw[1]!)) { f.bwlimit = bw[1]!; continue; }
    const why = checkRsyncArg(w);
    if (why) warnings.push(`job "${name}": ${why}; it was not imported`);
    else f.args.push(w);
  }
  return f;
}

function destination(name: string, jc: Obj, global: Obj, warnings: string[]): { dest: JobDestination; rsync: RsyncFields } {
  const dc = isObj(jc.dest_config) ? jc.dest_config : {};
  unknownKeys(dc, DEST_KEYS, `the destination of job "${name}"`, warnings);
  let type = str(jc.dest_type);
  let host = str(dc.hostname) ?? str(dc.host);
  let user = str(dc.username) ?? str(dc.user);
  let path = str(dc.path);
  let module = str(dc.share);
  const port = int(dc.port);
  const ds = str(dc.dest_string);
  if (!type && ds) {
    const daemon = /^rsync:\/\/(?:([^@/]+)@)?([^/:]+)(?::(\d+))?\/([^/]+)(\/.*)?$/.exec(ds) ?? /^(?:([^@/]+)@)?([^/:]+)::([^/]+)(\/.*)?$/.exec(ds);
    if (daemon) { type = "rsyncd"; user ??= daemon[1]; host ??= daemon[2]; module ??= daemon.length === 6 ? daemon[4] : daemon[3]; }
    else {
      const loc = splitLocation(ds);
      type = loc.host ? "ssh" : "local";
      host ??= loc.host; user ??= loc.user; path ??= loc.path;
    }
  }
  if (!type && str(global.dest_host)) {
    // Highball's first releases sent every job to host::<job name> on the global dest_host.
    type = "rsyncd";
    host = str(global.dest_host);
    module = name;
  }
  const dest: JobDestination = {};
  switch (type) {
    case "ssh":
      Object.assign(dest, { type: "ssh", host, path: path ?? `/backups/${name}` });
      if (user) dest.user = user;
      if (port) dest.port = port;
      dest.acceptNewHostKey = true;
      break;
    case "rsyncd":
      Object.assign(dest, { type: "rsyncd", host, module: module ?? name });
      if (user) dest.user = user;
      if (port) dest.port = port;
      if (path) dest.path = path;
      break;
    case "local":
      Object.assign(dest, { type: "local", path: path ?? `/backups/${name}` });
      break;
    default:
      warnings.push(`job "${name}": destination type "${type ?? "(none)"}" is unknown; the job was imported with an empty local destination to fill in`);
      Object.assign(dest, { type: "local", path: "" });
  }
  return { dest, rsync: rsyncFields(name, dc, warnings) };
}

/** A restic destination as a profile node's options; its secrets become warnings. */
function resticProfile(name: string, dc: Obj, warnings: string[]): Record<string, unknown> {
  unknownKeys(dc, RESTIC_KEYS, `the restic destination of job "${name}"`, warnings);
  const options: Record<string, unknown> = {};
  let uri = str(dc.repo_uri) ?? str(dc.dest_string) ?? str(dc.local_path);
  if (uri) {
    const pw = repositoryUrlPassword(uri);
    if (pw) {
      uri = uri.replace(`:${pw}@`, "@");
      warnings.push(`the REST repository URL of job "${name}" held a password; it was imported without it: set RESTIC_REST_PASSWORD in Node-RED's environment`);
    }
    options.repository = uri;
  } else {
    warnings.push(`job "${name}": the restic destination has no repository; fill it in the profile "${name}"`);
  }
  if (str(dc.password)) warnings.push(`job "${name}": the restic repository password was not imported; enter it as the password of profile "${name}" (a credential, never in the flow)`);
  if (str(dc.aws_access_key) || str(dc.aws_secret_key)) {
    warnings.push(`job "${name}": the S3 access keys were not imported (secrets never go into the flow); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in Node-RED's environment`);
  }
  if (str(dc.rest_password) && !(str(dc.repo_uri) ?? "").includes("@")) warnings.push(`job "${name}": the REST server password was not imported; set RESTIC_REST_PASSWORD in Node-RED's environment`);
  return options;
}

interface Notifier { telegram: Obj | null; email: Obj | null; windowSeconds: number }

function notifierSettings(global: Obj, warnings: string[]): Notifier {
  const n = isObj(global.notification) ? global.notification : {};
  unknownKeys(n, ["telegram", "email", "telegram_token", "telegram_chat_id"], "global_settings.notification", warnings);
  let telegram = isObj(n.telegram) ? n.telegram : null;
  if (!telegram && (str(n.telegram_token) || str(n.telegram_chat_id))) telegram = { enabled: true, token: n.telegram_token, chat_id: n.telegram_chat_id };
  const email = isObj(n.email) ? n.email : null;
  if (telegram) unknownKeys(telegram, ["enabled", "token", "chat_id", "queue_enabled", "queue_interval_minutes"], "global_settings.notification.telegram", warnings);
  if (email) unknownKeys(email, ["enabled", "smtp_server", "smtp_port", "use_tls", "use_ssl", "from_email", "to_email", "username", "password", "queue_enabled", "queue_interval_minutes"], "global_settings.notification.email", warnings);
  const on = (c: Obj | null) => (c && bool(c.enabled, false) ? c : null);
  const t = on(telegram);
  const e = on(email);
  const windows = [t, e].filter((c): c is Obj => c !== null).map((c) => (bool(c.queue_enabled, true) ? (int(c.queue_interval_minutes) ?? 5) * 60 : 0));
  if (t && str(t.token)) warnings.push("the Telegram bot token was not imported; enter it in the notify node (a credential, never in the flow)");
  if (e && (str(e.username) || str(e.password))) warnings.push("the SMTP user and password were not imported; enter them in the notify node (credentials, never in the flow)");
  return { telegram: t, email: e, windowSeconds: windows.length ? Math.min(...windows) : 60 };
}

interface JobNotify { providers: string[]; onSuccess: boolean; onFailure: boolean }

function jobNotify(name: string, jc: Obj, n: Notifier, warnings: string[]): JobNotify | null {
  const configured = [n.telegram ? "telegram" : null, n.email ? "email" : null].filter((x): x is string => x !== null);
  if (!Array.isArray(jc.notifications)) return configured.length ? { providers: configured, onSuccess: false, onFailure: true } : null;
  const providers = new Set<string>();
  let onSuccess = false;
  let onFailure = false;
  for (const entry of jc.notifications) {
    if (!isObj(entry)) continue;
    unknownKeys(entry, ["provider", "notify_on_success", "notify_on_failure", "notify_on_maintenance_failure", "success_message", "failure_message"], `the notifications of job "${name}"`, warnings);
    const provider = str(entry.provider);
    if (!provider || !configured.includes(provider)) {
      warnings.push(`job "${name}" notifies by ${provider ?? "(no provider)"}, which is not enabled in the global settings; that notification was not imported`);
      continue;
    }
    providers.add(provider);
    onSuccess ||= bool(entry.notify_on_success, false);
    onFailure ||= bool(entry.notify_on_failure, true);
    if (str(entry.success_message) || str(entry.failure_message)) warnings.push(`job "${name}": its custom ${provider} message was not imported; the notify node has templates with {{job}}, {{status}}, {{error}} ...`);
  }
  return providers.size ? { providers: [...providers].sort(), onSuccess, onFailure } : null;
}

function notifyNode(flow: FlowBuilder, n: Notifier, want: JobNotify): NodeRedFlowNode {
  const label = `notify ${want.providers.join("+")}${want.onSuccess ? " (+success)" : ""}${want.onFailure ? "" : " (no failures)"}`;
  const fields: Record<string, unknown> = {
    type: TYPES.notify,
    onFailure: want.onFailure, onWarning: want.onFailure, onDelay: true, onInterrupted: true, onSuccess: want.onSuccess, onCancelled: false,
    windowSeconds: n.windowSeconds, burst: 3, staleHours: 0, logLines: 20,
  };
  if (want.providers.includes("telegram") && n.telegram) fields.chatId = str(n.telegram.chat_id) ?? "";
  if (want.providers.includes("email") && n.email) {
    Object.assign(fields, {
      smtpHost: str(n.email.smtp_server) ?? "",
      smtpPort: int(n.email.smtp_port) ?? 587,
      smtpSecurity: bool(n.email.use_ssl, false) ? "tls" : bool(n.email.use_tls, true) ? "starttls" : "none",
      smtpFrom: str(n.email.from_email) ?? "",
      smtpTo: str(n.email.to_email) ?? "",
    });
  }
  return flow.shared("notify", label, fields);
}

interface Maintenance { discard: unknown; check: unknown; keep: Obj; subset: string | null; mode: string }

function maintenanceOf(name: string, jc: Obj, global: Obj, warnings: string[]): Maintenance {
  const g = isObj(global.maintenance) ? global.maintenance : {};
  unknownKeys(g, ["discard_schedule", "check_schedule", "retention_policy", "check_config"], "global_settings.maintenance", warnings);
  const j = isObj(jc.maintenance_config) ? jc.maintenance_config : {};
  unknownKeys(j, ["restic_maintenance", "maintenance_discard_schedule", "maintenance_check_schedule", "retention_policy"], `the maintenance of job "${name}"`, warnings);
  const mode = str(j.restic_maintenance) ?? "auto";
  const user = mode === "user";
  const keep = { ...(isObj(g.retention_policy) ? g.retention_policy : {}), ...(user && isObj(j.retention_policy) ? j.retention_policy : {}) };
  const cc = isObj(g.check_config) ? g.check_config : {};
  return {
    discard: (user ? j.maintenance_discard_schedule : undefined) ?? g.discard_schedule ?? "0 3 * * *",
    check: (user ? j.maintenance_check_schedule : undefined) ?? g.check_schedule ?? "0 2 * * 0",
    keep: Object.keys(keep).length ? keep : { keep_last: 7, keep_hourly: 6, keep_daily: 7, keep_weekly: 4, keep_monthly: 6, keep_yearly: 0 },
    subset: str(cc.read_data_subset) ?? "5%",
    mode,
  };
}

function keepArgs(keep: Obj): string[] {
  const out: string[] = [];
  for (const k of ["last", "hourly", "daily", "weekly", "monthly", "yearly"]) {
    const n = int(keep[`keep_${k}`]);
    if (n && n > 0) out.push(`--keep-${k}=${n}`);
  }
  return out;
}

interface Built { job: Job; profile: Record<string, unknown> | null; schedule: Record<string, unknown> | null; respect: boolean; notify: JobNotify | null; maintenance: Maintenance | null }

function buildJob(name: string, jc: Obj, global: Obj, presets: Record<string, string>, n: Notifier, warnings: string[]): Built {
  unknownKeys(jc, JOB_KEYS, `job "${name}"`, warnings);
  const src = source(name, jc, warnings);
  const restic = str(jc.dest_type) === "restic";
  const job: Job = { name, engine: restic ? "restic" : "rsync", enabled: bool(jc.enabled, true), source: src, resources: [], timeoutSeconds: int(global.rsync_timeout_seconds) ?? 0 };
  let profile: Record<string, unknown> | null = null;
  if (restic) {
    profile = resticProfile(name, isObj(jc.dest_config) ? jc.dest_config : {}, warnings);
    job.profile = name;
    job.restic = { command: "backup", args: [], tags: [] };
    for (const p of src.paths ?? []) {
      if (p.include?.length) warnings.push(`job "${name}": restic has no include rules, so the includes of ${p.path} (${p.include.join(", ")}) were dropped; list the wanted sub-folders as paths`);
      delete p.include;
    }
  } else {
    const d = destination(name, jc, global, warnings);
    job.destination = d.dest;
    job.rsync = d.rsync;
  }
  const schedule = scheduleFields(jc.schedule, presets, `job "${name}"`, warnings);
  const dry = jc.dry_run_on_schedule ?? global.default_dry_run_on_schedule;
  if (schedule && dry === true) warnings.push(`job "${name}" ran as a dry run on schedule in Highball; the imported schedule runs it for real`);
  return {
    job, profile, schedule,
    respect: bool(jc.respect_conflicts, true) && bool(global.enable_conflict_avoidance, true),
    notify: jobNotify(name, jc, n, warnings),
    maintenance: restic ? maintenanceOf(name, jc, global, warnings) : null,
  };
}

export function importHighball(yamlText: string, opts: { tab?: string } = {}): HighballImportResult {
  const warnings: string[] = [];
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    throw new Error(`the Highball config is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isObj(doc)) throw new Error("the Highball config must be a YAML mapping (global_settings, backup_jobs, ...)");
  unknownKeys(doc, ["global_settings", "backup_jobs", "deleted_jobs", "backup_logs"], "the Highball config", warnings);
  if (doc.backup_logs && isObj(doc.backup_logs) && Object.keys(doc.backup_logs).length) {
    warnings.push(`the last-run status of ${Object.keys(doc.backup_logs).length} job(s) (backup_logs) was not imported; history starts with the first run here`);
  }
  const global = isObj(doc.global_settings) ? doc.global_settings : {};
  unknownKeys(global, [
    "scheduler_timezone", "theme", "default_schedule_times", "enable_conflict_avoidance", "conflict_check_interval", "delay_notification_threshold",
    "notification", "maintenance", "default_dry_run_on_schedule", "rsync_timeout_seconds", "dest_host", "rsync_path", "time_path",
  ], "global_settings", warnings);
  for (const k of ["rsync_path", "time_path"]) if (global[k] !== undefined) warnings.push(`global_settings.${k} was not imported: rsync is found on the PATH of Node-RED and of each source host`);
  const presets: Record<string, string> = {};
  if (isObj(global.default_schedule_times)) for (const [k, v] of Object.entries(global.default_schedule_times)) if (str(v)) presets[k] = str(v)!;
  const timezone = str(global.scheduler_timezone) ?? "";
  // The gate counts its delay threshold in minutes.
  const delayMinutes = Math.round(((int(global.delay_notification_threshold) ?? 300) / 60) * 100) / 100;
  const notifier = notifierSettings(global, warnings);

  const flow = new FlowBuilder("highball", opts.tab ?? "Highball jobs", "Imported from Highball's config.yaml");
  const jobs = isObj(doc.backup_jobs) ? doc.backup_jobs : {};

  const row = (b: Built, kind: string) => {
    const name = b.job.name;
    for (const problem of jobProblems(b.job)) warnings.push(`job "${name}": ${problem}`);
    flow.nextRow();
    const trigger = b.schedule ? flow.place("schedule", `schedule:${kind}`, name, { type: TYPES.schedule, timezone, ...b.schedule }) : null;
    // The profile by its config node's id, as the editor's picker stores it (so it counts as used).
    const jobNode = flow.place("job", `job:${kind}`, name, jobNodeFields(b.job.profile ? { ...b.job, profile: flow.id("profile", b.job.profile) } : b.job));
    if (trigger) flow.wire(trigger, jobNode);
    let last = jobNode;
    if (b.respect) {
      const gate = flow.place("gate", `gate:${kind}`, name, { type: TYPES.gate, delay: delayMinutes, maxWait: 0, destinations: "host", tags: "" }, 3);
      flow.wire(jobNode, gate);
      last = gate;
    }
    const run = flow.place("run", `run:${kind}`, name, b.job.engine === "restic" ? { type: TYPES.restic } : { type: TYPES.rsync, job: "", args: "", bwlimit: "", logTail: 20 }, 2);
    flow.wire(last, run);
    if (b.notify) {
      const notify = notifyNode(flow, notifier, b.notify);
      flow.wire(run, notify);
      if (b.respect) {
        flow.wire(last, notify, 1); // the gate's delay notices
        flow.wire(last, notify, 2); // and its give-ups
      }
    }
  };

  for (const [name, raw] of Object.entries(jobs)) {
    if (!isObj(raw)) { warnings.push(`job "${name}" is not a mapping and was not imported`); continue; }
    const b = buildJob(name, raw, global, presets, notifier, warnings);
    if (b.profile) flow.config("profile", name, { type: TYPES.profile, options: b.profile });
    row(b, "backup");
    const m = b.maintenance;
    if (m && m.mode !== "off") {
      // Highball's maintenance: forget+prune ("discard") and check, each on its own schedule.
      const base = { engine: "restic" as const, enabled: b.job.enabled, profile: name, resources: [], timeoutSeconds: 0 };
      const keep = keepArgs(m.keep);
      if (keep.length) {
        row({ ...b, job: { ...base, name: `${name} discard`, restic: { command: "forget", args: ["--prune", ...keep], tags: [] } }, schedule: scheduleFields(m.discard, presets, `the discard of job "${name}"`, warnings) }, "discard");
      }
      row({ ...b, job: { ...base, name: `${name} check`, restic: { command: "check", args: m.subset ? [`--read-data-subset=${m.subset}`] : [], tags: [] } }, schedule: scheduleFields(m.check, presets, `the check of job "${name}"`, warnings) }, "check");
    }
  }

  const deletedJobs: DeletedJob[] = [];
  if (isObj(doc.deleted_jobs)) {
    for (const [name, raw] of Object.entries(doc.deleted_jobs)) {
      if (!isObj(raw)) continue;
      const w: string[] = [];
      const b = buildJob(name, raw, global, presets, notifier, w);
      for (const x of w) warnings.push(`deleted job "${name}": ${x}`);
      deletedJobs.push({ job: b.job, deletedAt: str(raw.deleted_at) ?? null });
    }
    if (deletedJobs.length) warnings.push(`${deletedJobs.length} deleted job(s) (${deletedJobs.map((d) => d.job.name).join(", ")}) were kept as restorable jobs, not placed in the flow`);
  }
  // Restic jobs have no destination, and their maintenance jobs no source either.
  const ssh = flow.nodes.some((n) => n.type === TYPES.job && ((n.source as JobSource | undefined)?.type === "ssh" || (n.destination as JobDestination | undefined)?.type === "ssh"));
  if (ssh) warnings.push("Highball did not check SSH host keys; the imported ssh jobs accept a host's key the first time they connect and check it from then on (see each job's Validate dialog)");
  return { nodes: flow.nodes, warnings, deletedJobs };
}

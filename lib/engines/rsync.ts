import { runCommand } from "../runs/command";
import type { Job, JobDestination } from "../job/schema";
import { type OutputParser, type Outcome, type Progress, type ProcessPlan, type RunStats, emptyStats } from "./types";
import { sshOptions, sshLogin, rsyncRsh, remoteCommand, shellQuote, sshFailure, type SshTarget } from "../remote/ssh";

/** What a run needs besides the job: the product's known_hosts and the daemon password. */
export interface RsyncContext {
  knownHostsFile: string;
  /** Content of the known_hosts file, copied to the source host when both ends are remote. */
  knownHosts?: string;
  rsyncdPassword?: string;
  executable?: string;
  extraArgs?: string[];
  bwlimit?: string;
  /** The local rsync's version ([major, minor, patch]); features are gated on it. */
  version?: number[];
}

const versions = new Map<string, Promise<number[]>>();

/** The local rsync's version, asked once per executable. */
export function rsyncVersion(executable = "rsync"): Promise<number[]> {
  let v = versions.get(executable);
  if (!v) {
    v = runCommand({ command: executable, args: ["--version"], timeoutMs: 20_000 }, { maxStdout: 64 * 1024 }).then((r) => {
      const m = /version\s+(\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
      return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
    });
    versions.set(executable, v);
  }
  return v;
}

function atLeast(v: number[] | undefined, want: number[]): boolean {
  if (!v) return false;
  for (let i = 0; i < want.length; i++) if ((v[i] ?? 0) !== want[i]) return (v[i] ?? 0) > want[i]!;
  return true;
}

/** One rsync process per source path, so each path keeps its own include/exclude rules. */
export interface RsyncStep { plan: ProcessPlan; parser: RsyncParser; source: string }

function target(r: { host?: string; port?: number; user?: string; identityFile?: string; acceptNewHostKey?: boolean }): SshTarget {
  return { host: r.host ?? "", port: r.port || undefined, user: r.user || undefined, identityFile: r.identityFile || undefined, acceptNewHostKey: r.acceptNewHostKey };
}

function daemonUrl(d: JobDestination): string {
  const user = d.user ? `${d.user}@` : "";
  const port = d.port ? `:${d.port}` : "";
  const sub = (d.path ?? "").replace(/^\/+/, "");
  return `rsync://${user}${d.host}${port}/${d.module}/${sub}`;
}

function options(job: Job, ctx: RsyncContext, entry: { include?: string[]; exclude?: string[] }): string[] {
  const o = job.rsync ?? {};
  const args = ["--archive", "--itemize-changes", "--info=progress2", "--stats", "--no-human-readable"];
  if (o.delete) args.push("--delete");
  if (o.checksum) args.push("--checksum");
  if (o.compress) args.push("--compress");
  const bw = o.bwlimit || ctx.bwlimit;
  if (bw) args.push(`--bwlimit=${bw}`);
  // Includes come first: rsync applies the first matching rule, and a path's own
  // includes are there to rescue files from its excludes.
  for (const p of entry.include ?? []) args.push(`--include=${p}`);
  for (const p of entry.exclude ?? []) args.push(`--exclude=${p}`);
  for (const p of o.exclude ?? []) args.push(`--exclude=${p}`);
  args.push(...(o.args ?? []), ...(ctx.extraArgs ?? []));
  if (job.timeoutSeconds) args.push(`--timeout=${Math.min(job.timeoutSeconds, 3600)}`);
  return args;
}

/**
 * The processes that run a job. Paths never go through a shell on this host; when rsync runs
 * on the source host (both ends remote) every word is single-quoted for the remote shell.
 */
export function rsyncSteps(job: Job, ctx: RsyncContext): RsyncStep[] {
  const rsync = ctx.executable ?? "rsync";
  const src = job.source ?? {};
  const dst = job.destination ?? {};
  const srcRemote = src.type === "ssh";
  const dstType = dst.type ?? "local";
  const entries = src.paths ?? [];
  const many = entries.length > 1;

  return entries.map((entry) => {
    // One path: its contents land in the destination. Several: each lands in a folder of its name.
    const trimmed = entry.path.replace(/\/+$/, "") || "/";
    const from = many ? trimmed : trimmed === "/" ? "/" : `${trimmed}/`;
    const opts = options(job, ctx, entry);
    const env: Record<string, string> = {};
    const secrets: string[] = [];
    let stdin: string | undefined;

    let to: string;
    if (dstType === "rsyncd") {
      to = daemonUrl(dst);
      if (ctx.rsyncdPassword) {
        secrets.push(ctx.rsyncdPassword);
        if (srcRemote) { opts.push("--password-file=-"); stdin = ctx.rsyncdPassword + "\n"; }
        else env.RSYNC_PASSWORD = ctx.rsyncdPassword;
      }
    } else if (dstType === "ssh") {
      to = `${sshLogin(target(dst))}:${dst.path}`;
    } else {
      to = dst.path ?? "";
    }

    if (!srcRemote) {
      const args = [...opts];
      // The local rsync receives: let it create the destination's missing parents (3.2.3+).
      if (dstType === "local" && atLeast(ctx.version, [3, 2, 3])) args.push("--mkpath");
      if (dstType === "ssh") args.push("-e", rsyncRsh(["ssh", ...sshOptions(target(dst), ctx.knownHostsFile)]));
      const direct = secrets.length === 0;
      if (direct) args.unshift("--outbuf=L"); // whole lines, so the log's other writer never splits one
      args.push("--", from, to);
      return { plan: { command: rsync, args, env, secrets, directOutput: direct }, parser: new RsyncParser([entry.path]), source: entry.path };
    }

    const srcTarget = target(src);
    const sshArgs = sshOptions(srcTarget, ctx.knownHostsFile);
    if (dstType !== "ssh") {
      // Pull to here, or (daemon destination) run rsync on the source host so data goes host to host.
      if (dstType === "local") {
        const args = ["--outbuf=L", ...opts, ...(atLeast(ctx.version, [3, 2, 3]) ? ["--mkpath"] : []), "-e", rsyncRsh(["ssh", ...sshArgs]), "--", `${sshLogin(srcTarget)}:${from}`, to];
        return { plan: { command: rsync, args, env, secrets, directOutput: secrets.length === 0 }, parser: new RsyncParser([entry.path]), source: entry.path };
      }
      const remote = remoteCommand(["rsync", ...opts, "--", from, to]);
      return { plan: { command: "ssh", args: [...sshArgs, "--", sshLogin(srcTarget), remote], env, stdin, secrets }, parser: new RsyncParser([entry.path]), source: entry.path };
    }

    // ssh → ssh: rsync runs on the source host and reaches the destination itself. The source
    // host gets a private copy of our known_hosts for that hop, so host keys stay checked there too.
    const rsh = `"ssh -o UserKnownHostsFile=$kh "${shellQuote(rsyncRsh(sshOptions(target(dst))))}`;
    const script = [
      `kh=$(mktemp) || exit 12`,
      `printf '%s' ${shellQuote(ctx.knownHosts ?? "")} > "$kh"`,
      `${remoteCommand(["rsync", ...opts])} -e ${rsh} -- ${shellQuote(from)} ${shellQuote(to)}`,
      `rc=$?; rm -f "$kh"; exit $rc`,
    ].join("; ");
    return { plan: { command: "ssh", args: [...sshArgs, "--", sshLogin(srcTarget), script], env, secrets }, parser: new RsyncParser([entry.path]), source: entry.path };
  });
}

const PROGRESS = /^\s*([\d,.]+)\s+(\d+)%\s+([\d.,]+)([kMGT]?B)\/s\s+(\d+):(\d\d):(\d\d)(?:\s+\(xfr#(\d+), (?:ir|to)-chk=(\d+)\/(\d+)\))?/;
const UNITS: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

function num(s: string): number {
  return Number(s.replace(/,/g, ""));
}

const EXIT_SENTENCES: Record<number, string> = {
  1: "rsync reported a syntax or usage error",
  2: "rsync reported a protocol incompatibility between the two ends",
  3: "rsync could not select the input or output files or folders (does the destination folder exist?)",
  4: "the remote rsync does not support an action or option that was asked for",
  6: "the rsync daemon could not append to its log file",
  11: "rsync hit a file input/output error (is the destination disk full or read-only?)",
  12: "the rsync data stream broke (is rsync installed on the remote host, and does the remote shell print nothing at login?)",
  13: "rsync hit an error with its program diagnostics",
  14: "rsync hit an error in its inter-process communication",
  20: "rsync was stopped by a signal",
  21: "rsync's waitpid() reported an error",
  22: "rsync could not allocate its memory buffers",
  25: "rsync stopped deleting because of --max-delete",
  30: "rsync timed out while sending or receiving data",
  35: "rsync timed out while waiting for the daemon's connection",
};

/** --itemize-changes: YXcstpoguax, a space, the name (update type, then file type). */
const ITEM_FIRST = new Set([..."<>ch.*"].map((ch) => ch.charCodeAt(0)));
const ITEM_TYPE = new Set([..."fdLDS"].map((ch) => ch.charCodeAt(0)));
/** The first letters of the --stats lines read below. */
const STATS_FIRST = new Set([..."NTLM"].map((ch) => ch.charCodeAt(0)));

/** One --info=progress2 line, or null when the line is something else. */
function parseProgress(line: string): Progress | null {
  const m = PROGRESS.exec(line);
  if (!m) return null;
  const bytesDone = num(m[1]!);
  const percent = Number(m[2]);
  const rate = Number(m[3]!.replace(/,/g, "")) * (UNITS[m[4]!] ?? 1);
  const eta = Number(m[5]) * 3600 + Number(m[6]) * 60 + Number(m[7]);
  const filesTotal = m[10] ? Number(m[10]) : null;
  const filesDone = m[9] && filesTotal !== null ? filesTotal - Number(m[9]) : null;
  return {
    percent,
    bytesDone,
    bytesTotal: percent > 0 ? Math.round((bytesDone * 100) / percent) : null,
    filesDone,
    filesTotal,
    rate,
    etaSeconds: eta,
  };
}

/** Reads rsync's --info=progress2, --itemize-changes and --stats output. */
export class RsyncParser implements OutputParser {
  private lastProgress: string | null = null;
  private readonly stats: Record<string, number> = {};
  private readonly errors: string[] = [];
  private vanished = 0;

  constructor(private readonly roots: string[]) {}

  stdout(line: string): void {
    // progress2 redraws its line after every file (20,000 lines for 20,000 files) but only two a
    // second are shown: keep the newest raw line, parse it when progress is taken. Its numbers
    // are right-aligned, so it begins with a space; no stats or itemize line does.
    if (line.charCodeAt(0) === 32) {
      this.lastProgress = line;
      return;
    }
    // Itemized lines are nearly all the rest of a verbose run (and stay in the log, unread
    // when rsync writes the log itself): pass them before any regex.
    const c = line.charCodeAt(0);
    if (ITEM_FIRST.has(c) && line.charCodeAt(11) === 32 && ITEM_TYPE.has(line.charCodeAt(1))) return;
    if (!STATS_FIRST.has(c)) return; // -v file names, "sending incremental file list", ...
    const s = /^(Number of files|Number of created files|Number of deleted files|Number of regular files transferred|Total file size|Total transferred file size|Literal data|Matched data|Total bytes sent|Total bytes received): ([\d,]+)(?: \(reg: ([\d,]+))?/.exec(line);
    if (s) {
      this.stats[s[1]!] = num(s[2]!);
      if (s[3]) this.stats[`${s[1]} (reg)`] = num(s[3]);
    }
  }

  stderr(line: string): void {
    if (!line.trim()) return;
    if (line.startsWith("file has vanished")) this.vanished++;
    if (this.errors.length < 200) this.errors.push(line);
    else this.errors[199] = line;
  }

  takeProgress(): Progress | null {
    const line = this.lastProgress;
    this.lastProgress = null;
    return line === null ? null : parseProgress(line);
  }

  private runStats(): RunStats {
    const s = this.stats;
    const has = (k: string) => k in s;
    return {
      ...emptyStats(),
      filesTotal: has("Number of files (reg)") ? s["Number of files (reg)"]! : has("Number of files") ? s["Number of files"]! : null,
      filesChanged: has("Number of regular files transferred") ? s["Number of regular files transferred"]! : null,
      bytesTotal: has("Total file size") ? s["Total file size"]! : null,
      bytesTransferred: has("Total transferred file size") ? s["Total transferred file size"]! : null,
    };
  }

  private failure(code: number | null, signal: string | null): string {
    const text = this.errors.join("\n");
    const daemon = /@ERROR: (.*)/.exec(text);
    if (code === 5) {
      if (daemon && /auth failed/.test(daemon[1]!)) return `the rsync daemon refused the login: ${daemon[1]} (check the user and the daemon password)`;
      if (daemon && /Unknown module/.test(daemon[1]!)) return `the rsync daemon has no such module: ${daemon[1]}`;
      return `the rsync daemon refused the session${daemon ? `: ${daemon[1]}` : ""}`;
    }
    if (code === 10) {
      const why = /failed to connect to (\S+)[^:]*:\s*(.*)$/m.exec(text);
      return `could not connect to the rsync daemon${why ? ` at ${why[1]}: ${why[2]}` : ""}`;
    }
    // rsync exits 255 when ssh failed, but 12 when it noticed the closed pipe before ssh's
    // exit status: ssh's own words decide, not the race.
    const said = sshFailure(this.errors);
    if (code === 255 || (code === 12 && said)) {
      const own = this.errors.filter((l) => !/^rsync: |^rsync error:/.test(l)).slice(-2).join(" ");
      return `ssh failed: ${said ?? "the connection broke"}${own ? ` (ssh said: ${own.trim()})` : ""}`;
    }
    if (code === null) return `rsync was killed by ${signal ?? "a signal"}`;
    const base = EXIT_SENTENCES[code] ?? `rsync failed with exit code ${code}`;
    const last = this.errors.filter((l) => l.startsWith("rsync: ")).slice(-1)[0];
    return last ? `${base}: ${last.replace(/^rsync: (\[\w+\] )?/, "")}` : base;
  }

  /** The source roots that do not exist, from rsync's own complaint about them. */
  private missingRoots(): string[] {
    const missing: string[] = [];
    for (const l of this.errors) {
      const m = /(?:link_stat|change_dir) "([^"]*)" failed: No such file or directory/.exec(l);
      if (!m) continue;
      const p = m[1]!.replace(/\/+$/, "").replace(/\/\.$/, "");
      if (this.roots.some((r) => r.replace(/\/+$/, "") === p || p.endsWith(r.replace(/\/+$/, "")))) missing.push(m[1]!);
    }
    return missing;
  }

  finish(exitCode: number | null, signal: string | null): Outcome {
    const stats = this.runStats();
    const details = { rsync: { ...this.stats }, vanished: this.vanished };
    if (exitCode === 0) return { status: "success", error: null, stats, details };
    if (exitCode === 23 || exitCode === 24) {
      const missing = this.missingRoots();
      if (missing.length) return { status: "failed", error: `the source path ${missing.join(", ")} does not exist`, stats, details };
      if (exitCode === 24) return { status: "warning", error: `some source files vanished while they were copied (${this.vanished || "some"} file${this.vanished === 1 ? "" : "s"}); everything else was copied`, stats, details };
      const last = this.errors.filter((l) => l.startsWith("rsync: ")).slice(-1)[0];
      return { status: "warning", error: `some files could not be transferred${last ? `: ${last.replace(/^rsync: (\[\w+\] )?/, "")}` : ""}`, stats, details };
    }
    return { status: "failed", error: this.failure(exitCode, signal), stats, details };
  }
}

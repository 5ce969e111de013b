/**
 * restic run on the source host over ssh (a backup of an ssh source). ssh hands the remote
 * side one command string, so every word is single-quoted; the password and every other
 * variable travel on ssh's standard input, never on either host's command line.
 */
import type { Priority, ProcessPlan } from "./types";
import { shellQuote, remoteCommand, sshOptions, sshLogin, type SshTarget } from "../remote/ssh";

export { shellQuote };

/**
 * Reads NAME=value lines from stdin up to an empty line, exports them, then becomes the
 * program given as its arguments. "$@" keeps every word exactly as quoted on our side.
 */
export const REMOTE_ENV_SCRIPT =
  'while IFS= read -r hb_kv && [ -n "$hb_kv" ]; do export "$hb_kv" || exit 125; done; exec "$@"';

const NICE: Record<Priority, string[]> = { idle: ["nice", "-n", "19"], low: ["nice", "-n", "10"], normal: [], high: ["nice", "-n", "-10"] };
const IONICE: Record<Priority, string[]> = { idle: ["ionice", "-c", "3"], low: ["ionice", "-c", "2", "-n", "7"], normal: [], high: ["ionice", "-c", "2", "-n", "0"] };

export class RemotePlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemotePlanError";
  }
}

export interface RemoteResticOptions {
  target: SshTarget;
  knownHostsFile: string;
  /** Variables for the remote restic (repository, password, env.*); empty values are left out. */
  env: Record<string, string>;
  cpuPriority?: Priority;
  ioPriority?: Priority;
  secrets?: string[];
}

/** The ssh process that runs `argv` (restic and its arguments) on the target host. */
export function remoteResticPlan(argv: string[], o: RemoteResticOptions): ProcessPlan {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(o.env)) {
    if (v === "") continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new RemotePlanError(`the variable name ${JSON.stringify(k)} cannot be sent to the remote host`);
    if (/[\r\n\0]/.test(v)) throw new RemotePlanError(`the value of ${k} contains a line break, which cannot be sent to the remote host`);
    lines.push(`${k}=${v}`);
  }
  for (const w of argv) if (w.includes("\0")) throw new RemotePlanError("an argument contains a NUL character");
  const prefix = [...(o.cpuPriority ? NICE[o.cpuPriority] : []), ...(o.ioPriority ? IONICE[o.ioPriority] : [])];
  const command = remoteCommand(["sh", "-c", REMOTE_ENV_SCRIPT, "highball-restic", ...prefix, ...argv]);
  return {
    command: "ssh",
    args: [...sshOptions(o.target, o.knownHostsFile), "--", sshLogin(o.target), command],
    stdin: lines.join("\n") + "\n\n",
    secrets: [...new Set(o.secrets ?? [])],
  };
}

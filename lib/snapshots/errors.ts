/**
 * restic's failures as the admin API's plain sentences and status codes. restic's own words
 * can hold the repository's location, a host or a file of ours, so they are only matched
 * here, never passed on.
 */
import { SnapshotError } from "./validate";
import type { Exit } from "./runner";

export interface FailureContext {
  profile: string;
  /** What was asked, for the sentence: "list /home in snapshot 1a2b3c4d". */
  action: string;
  snapshot?: string;
}

const RULES: [RegExp, (c: FailureContext) => SnapshotError][] = [
  [/wrong password|no key found/i, (c) => new SnapshotError(502, `restic could not open the repository of profile "${c.profile}": the password is wrong`)],
  [/already locked|unable to create lock/i, (c) => new SnapshotError(409, `the repository of profile "${c.profile}" is locked by another restic command; try again when it has finished`)],
  [/multiple IDs with prefix|ambiguous/i, (c) => new SnapshotError(400, `${c.snapshot ? `the snapshot id ${c.snapshot}` : "a snapshot id"} matches several snapshots; use more digits`)],
  // 0.18+ load a full 64-digit id directly: "failed to load snapshot 0123abcd: open .../snapshots/<id>: no such file or directory" (a REST server: "<snapshot/0123abcd01> does not exist").
  [/no matching ID found|Ignoring ".*": no matching|invalid id|could not find snapshot|no snapshot found|failed to (load|find) snapshot[^\n]*(no such file or directory|not found|does not exist|404)/i, (c) => new SnapshotError(404, c.snapshot ? `the repository of profile "${c.profile}" has no snapshot ${c.snapshot}` : `a snapshot was not found in the repository of profile "${c.profile}"`)],
  [/not found in snapshot|cannot dump file/i, (c) => new SnapshotError(404, `that path is not in snapshot ${c.snapshot ?? ""}`.trim())],
  // Checked before "no repository": restic says "Is there a repository ...?" after these too.
  [/x509:|certificate signed by unknown authority|tls: failed to verify/i, (c) => new SnapshotError(502, `restic does not trust the certificate of the repository server of profile "${c.profile}"; give its CA certificate in the profile's cacert option`)],
  [/\b401 Unauthorized\b|unexpected HTTP response \(401\)/, (c) => new SnapshotError(502, `the repository server of profile "${c.profile}" refused the user name or password (401 Unauthorized)`)],
  [/dial tcp[^\n]*(connection refused|no such host|i\/o timeout|network is unreachable|no route to host)/i, (c) => new SnapshotError(502, `restic could not reach the repository of profile "${c.profile}"`)],
  [/unable to open config file|Is there a repository at the following location|repository does not exist|config file does not exist/i, (c) => new SnapshotError(502, `restic could not open the repository of profile "${c.profile}": there is no repository at its location, or it cannot be read`, "noRepository")],
  [/permission denied/i, (c) => new SnapshotError(502, `restic was refused access while it tried to ${c.action} (permission denied)`)],
  [/connection refused|no such host|i\/o timeout|network is unreachable|unable to start the sftp session|ssh: |dial tcp/i, (c) => new SnapshotError(502, `restic could not reach the repository of profile "${c.profile}"`)],
];

/** The sentence for a restic run that ended badly. */
export function resticFailure(exit: Exit, c: FailureContext): SnapshotError {
  if (exit.spawnError) return new SnapshotError(500, exit.spawnError);
  if (exit.timedOut) return new SnapshotError(504, `restic took too long to ${c.action}`);
  for (const [re, make] of RULES) if (re.test(exit.stderr)) return make(c);
  const how = exit.code !== null ? `exit code ${exit.code}` : `signal ${exit.signal ?? "unknown"}`;
  return new SnapshotError(502, `restic could not ${c.action} (${how})`);
}

/** Whether restic said it ignored the snapshot id (0.14 exits 0 after that). */
export function ignoredSnapshot(stderr: string): boolean {
  return /Ignoring ".*": no matching ID|no matching ID found/i.test(stderr);
}

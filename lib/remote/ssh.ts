/**
 * ssh as the product runs it: batch mode (never a prompt), host keys checked against a
 * known_hosts file the product owns, "accept-new" only when a job opts in.
 */
export interface SshTarget {
  host: string;
  port?: number;
  user?: string;
  identityFile?: string;
  acceptNewHostKey?: boolean;
}

/** POSIX single-quoting: the word reaches the remote program exactly as given. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A remote command line from an argument array (ssh hands the remote side one string). */
export function remoteCommand(argv: string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** ssh's options (without the destination) for a target; without a file, the caller adds its own. */
export function sshOptions(t: SshTarget, knownHostsFile?: string): string[] {
  const opts = [
    "-o", "BatchMode=yes",
    ...(knownHostsFile ? ["-o", `UserKnownHostsFile=${knownHostsFile}`] : []),
    "-o", `StrictHostKeyChecking=${t.acceptNewHostKey ? "accept-new" : "yes"}`,
    "-o", "ConnectTimeout=20",
    "-o", "ServerAliveInterval=20",
    "-o", "ServerAliveCountMax=3",
  ];
  if (t.port) opts.push("-p", String(t.port));
  if (t.identityFile) opts.push("-i", t.identityFile, "-o", "IdentitiesOnly=yes");
  return opts;
}

export function sshLogin(t: SshTarget): string {
  return t.user ? `${t.user}@${t.host}` : t.host;
}

/** The full ssh argv (after the "ssh" program) running `argv` on the target. */
export function sshExec(t: SshTarget, knownHostsFile: string, argv: string[]): string[] {
  return [...sshOptions(t, knownHostsFile), "--", sshLogin(t), remoteCommand(argv)];
}

/**
 * rsync splits its -e string on white space itself and honours quotes, so each word is
 * double-quoted when needed (known_hosts and key paths may hold spaces).
 */
export function rsyncRsh(words: string[]): string {
  return words.map((w) => (/[\s'"\\]/.test(w) ? `"${w.replace(/(["\\])/g, "\\$1")}"` : w)).join(" ");
}

/** ssh's own words about a failed connection, as one sentence; null when none matched. */
export function sshFailure(lines: string[]): string | null {
  const text = lines.join("\n");
  const rules: [RegExp, (m: RegExpMatchArray) => string][] = [
    [/REMOTE HOST IDENTIFICATION HAS CHANGED/, () => "the host key of the server has changed since it was accepted; if the server was reinstalled, accept its new key in the job's Validate dialog"],
    [/Host key verification failed/, () => "the server's host key is not known; accept it in the job's Validate dialog or enable \"accept new host key\""],
    [/No (\S+) host key is known for (\S+)/, (m) => `no host key is known for ${m[2]}`],
    [/Permission denied \(([^)]*)\)/, (m) => `ssh authentication failed (Permission denied (${m[1]})): check the user and the key`],
    [/Connection refused/, () => "the ssh connection was refused: nothing listens on that host and port"],
    [/Connection timed out|Operation timed out/, () => "the ssh connection timed out"],
    [/Could not resolve hostname ([^:]+):/, (m) => `the host name ${m[1]} could not be resolved`],
    [/No route to host/, () => "there is no route to that host"],
    [/Load key "([^"]*)": (.*)/, (m) => `the ssh key ${m[1]} could not be loaded: ${m[2]}`],
    [/Identity file (\S+) not accessible/, (m) => `the ssh key ${m[1]} cannot be read`],
    [/Connection closed by|Connection reset by/, () => "the server closed the ssh connection"],
  ];
  for (const [re, say] of rules) {
    const m = text.match(re);
    if (m) return say(m);
  }
  return null;
}

/**
 * Extra rsync arguments a job may add. Anything that changes how rsync reaches a host,
 * reads secrets or files of ours, writes elsewhere or changes its output format is refused:
 * those are the product's to set (-e, --rsync-path, --password-file, --files-from, --log-file,
 * --info, --out-format, -h ...). Values must be attached with "=" so an argument can never
 * smuggle in a second positional path.
 */
const FLAGS = new Set([
  "--compress", "-z", "--partial", "--hard-links", "-H", "--acls", "-A", "--xattrs", "-X",
  "--sparse", "-S", "--numeric-ids", "--one-file-system", "-x", "--inplace", "--append-verify",
  "--dry-run", "-n", "--delete-excluded", "--delete-after", "--delete-delay", "--delete-before",
  "--delete-during", "--backup", "--copy-links", "-L", "--safe-links", "--copy-unsafe-links",
  "--no-perms", "--no-owner", "--no-group", "--no-times", "--fake-super", "--ignore-existing",
  "--existing", "--update", "-u", "--size-only", "--mkpath", "--verbose", "-v", "--itemize-changes",
  "-i", "--prune-empty-dirs", "-m", "--relative", "-R", "--no-implied-dirs", "--keep-dirlinks", "-K",
  "--copy-dirlinks", "-k", "--omit-dir-times", "-O", "--checksum", "-c", "--whole-file", "-W",
  "--no-whole-file", "--ignore-times", "-I", "--force", "--ignore-errors", "--cvs-exclude", "-C",
  "--remove-source-files", "--fuzzy", "-y", "--preallocate", "--open-noatime", "--atimes", "-U",
  "--crtimes", "-N", "--executability", "-E", "--super", "--devices", "--specials", "-D", "--links", "-l",
]);

const VALUED = new Set([
  "--exclude", "--include", "--filter", "--max-size", "--min-size", "--max-delete", "--timeout",
  "--contimeout", "--backup-dir", "--suffix", "--link-dest", "--compare-dest", "--copy-dest",
  "--chmod", "--chown", "--usermap", "--groupmap", "--modify-window", "--compress-level",
  "--compress-choice", "--checksum-choice", "--partial-dir", "--temp-dir", "--bwlimit",
  "--block-size", "--iconv", "--skip-compress", "--old-compress", "--zc", "--zl", "--cc",
]);

/** A plain sentence saying why `arg` is refused, or null when it is allowed. */
export function checkRsyncArg(arg: string): string | null {
  if (arg.includes("\0") || /[\r\n]/.test(arg)) return `rsync argument ${JSON.stringify(arg)} contains a control character`;
  if (FLAGS.has(arg)) return null;
  const eq = arg.indexOf("=");
  if (eq > 2 && VALUED.has(arg.slice(0, eq))) return null;
  if (VALUED.has(arg)) return `rsync argument ${arg} needs its value attached with "=", for example ${arg}=VALUE`;
  if (!arg.startsWith("-")) return `rsync argument ${JSON.stringify(arg)} is not an option; paths belong in the job's sources and destination`;
  return `rsync argument ${arg} is not allowed (it is either unknown or one the product sets itself)`;
}

export const allowedRsyncArgs = { flags: [...FLAGS].sort(), valued: [...VALUED].sort() };

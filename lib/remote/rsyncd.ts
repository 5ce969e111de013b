/**
 * rsync daemon share discovery over the daemon's own text protocol on TCP, so it needs no
 * local rsync and builds no command line: greeting `@RSYNCD: <ver>`, our greeting, an empty
 * module name, then the listed modules up to `@RSYNCD: EXIT` (or an `@ERROR: ...` line).
 * Modules with `list = no` are hidden by the daemon and so never appear.
 */
import { openSocket, printable, seconds, where, RemoteError } from "./net";

export interface RsyncModule { name: string; comment: string }

export interface DiscoverOptions { host: string; port?: number; timeoutMs?: number }

const MAX_BYTES = 1024 * 1024;
const MAX_MODULES = 10000;
/** The newest protocol whose greeting needs no digest list (that is only for authentication). */
const OUR_PROTOCOL = 30;

/**
 * The daemon prints each listed module as `%-15s\t%s`; MOTD lines come first and look alike
 * only by accident, so a line counts only if it has that padding.
 */
export function parseModuleLine(line: string): RsyncModule | null {
  const tab = line.indexOf("\t");
  if (tab < 15) return null;
  const pre = line.slice(0, tab);
  if (tab > 15 && pre.endsWith(" ")) return null;
  const name = pre.trimEnd();
  if (!name || /^\s/.test(name)) return null;
  return { name, comment: line.slice(tab + 1).trim() };
}

export async function discoverRsyncd(o: DiscoverOptions): Promise<RsyncModule[]> {
  const port = o.port || 873;
  const timeoutMs = Math.max(500, Math.min(o.timeoutMs ?? 10000, 120000));
  const at = where(o.host, port);
  const started = Date.now();
  const sock = await openSocket(o.host, port, timeoutMs, "rsync daemon");

  return new Promise((resolve, reject) => {
    const modules: RsyncModule[] = [];
    const seen = new Set<string>();
    let greeted = false;
    let protocol = 0;
    let buf = "";
    let bytes = 0;
    let settled = false;
    const end = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(modules);
    };
    const timer = setTimeout(() => end(new RemoteError(
      greeted
        ? `the rsync daemon at ${at} did not finish its module list within ${seconds(timeoutMs)}`
        : `${at} accepted the connection but sent no rsync greeting within ${seconds(timeoutMs)}; is it an rsync daemon?`,
      "timeout")), Math.max(0, started + timeoutMs - Date.now()));

    const onLine = (raw: string) => {
      const line = raw.replace(/\r$/, "");
      if (!greeted) {
        const m = /^@RSYNCD: (\d+)(?:\.(-?\d+))?/.exec(line);
        if (!m) {
          if (line.startsWith("@ERROR")) return end(new RemoteError(`the rsync daemon at ${at} refused the connection: ${printable(line.replace(/^@ERROR:?\s*/, ""))}`, "protocol"));
          return end(new RemoteError(`${at} is not an rsync daemon (it answered "${printable(line, 80)}")`, "protocol"));
        }
        greeted = true;
        protocol = Number(m[1]);
        sock.write(`@RSYNCD: ${Math.min(protocol, OUR_PROTOCOL)}.0\n\n`);
        return;
      }
      if (line === "@RSYNCD: EXIT") return end(null);
      if (line.startsWith("@ERROR")) return end(new RemoteError(`the rsync daemon at ${at} answered: ${printable(line.replace(/^@ERROR:?\s*/, ""))}`, "protocol"));
      if (line.startsWith("@RSYNCD:")) return end(new RemoteError(`the rsync daemon at ${at} answered the module list request unexpectedly ("${printable(line, 80)}")`, "protocol"));
      const mod = parseModuleLine(line);
      if (mod && !seen.has(mod.name) && modules.length < MAX_MODULES) {
        seen.add(mod.name);
        modules.push(mod);
      }
    };

    sock.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_BYTES) return end(new RemoteError(`the rsync daemon at ${at} sent more than ${MAX_BYTES} bytes without ending its module list`, "protocol"));
      buf += chunk.toString("utf8");
      let nl: number;
      while (!settled && (nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        onLine(line);
      }
    });
    sock.on("error", (err: NodeJS.ErrnoException) => end(new RemoteError(`the connection to the rsync daemon at ${at} failed (${err.code ?? "error"})`, "closed")));
    sock.on("close", () => {
      if (buf && !settled) onLine(buf);
      // Daemons before protocol 25 just hang up after the list.
      if (greeted && protocol < 25) return end(null);
      end(new RemoteError(greeted
        ? `the rsync daemon at ${at} closed the connection before finishing its module list`
        : `${at} closed the connection without an rsync greeting; is it an rsync daemon?`, "closed"));
    });
  });
}

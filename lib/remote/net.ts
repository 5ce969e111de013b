/**
 * Opening a TCP connection with a deadline, and socket errors as plain sentences.
 */
import { Socket, connect } from "node:net";
import { bareHost } from "./knownhosts";

export class RemoteError extends Error {
  constructor(message: string, readonly kind: "dns" | "refused" | "timeout" | "unreachable" | "protocol" | "closed" | "other" = "other") {
    super(message);
    this.name = "RemoteError";
  }
}

/** host:port for a sentence, with IPv6 literals bracketed. */
export function where(host: string, port: number): string {
  const h = bareHost(host);
  return h.includes(":") ? `[${h}]:${port}` : `${h}:${port}`;
}

export function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** A socket error as one sentence; `what` names the service ("ssh server", "rsync daemon"). */
export function socketError(err: NodeJS.ErrnoException, host: string, port: number, what: string): RemoteError {
  const at = where(host, port);
  switch (err.code) {
    case "ECONNREFUSED":
      return new RemoteError(`the connection to ${at} was refused: no ${what} listens there`, "refused");
    case "ENOTFOUND":
      return new RemoteError(`the host name ${bareHost(host)} could not be resolved (DNS)`, "dns");
    case "EAI_AGAIN":
      return new RemoteError(`the host name ${bareHost(host)} could not be resolved right now (DNS did not answer)`, "dns");
    case "ETIMEDOUT":
      return new RemoteError(`the connection to ${at} timed out`, "timeout");
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new RemoteError(`there is no network route to ${at}`, "unreachable");
    case "ECONNRESET":
    case "EPIPE":
      return new RemoteError(`the ${what} at ${at} closed the connection`, "closed");
    default:
      return new RemoteError(`the connection to ${at} failed (${err.code ?? "unknown error"})`, "other");
  }
}

/** Connects within `timeoutMs`; the socket has no timeout left set on it. */
export function openSocket(host: string, port: number, timeoutMs: number, what: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: bareHost(host), port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new RemoteError(`no answer from ${where(host, port)} within ${seconds(timeoutMs)} (is the host up, or does a firewall drop the connection?)`, "timeout"));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.removeAllListeners("error");
      resolve(sock);
    });
    sock.once("error", (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(socketError(err, host, port, what));
    });
  });
}

/** Printable ASCII only, shortened: a remote server's words are shown, never trusted. */
export function printable(text: string, max = 200): string {
  const s = text.replace(/[^\x20-\x7e]+/g, " ").trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

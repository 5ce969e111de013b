/**
 * What every admin route module shares: the parts of RED they use, the one error answer, the
 * number parser, and the one guard that mounts a module once per admin app. Route modules
 * import from here and never from each other, so lib/http has no circle of imports.
 */
import type { Express, Request, Response, RequestHandler } from "express";

/** The parts of Node-RED's RED object the routes use. */
export interface AdminRED {
  httpAdmin: Express;
  auth: { needsPermission(p: string): RequestHandler };
  settings: unknown;
}

/** The two permissions, as Node-RED's middleware. */
export interface Guards {
  read: RequestHandler;
  write: RequestHandler;
}

/** Error answers are one plain sentence: never a stack trace, a path or a secret. */
export function fail(res: Response, code: number, error: string): void {
  res.status(code).json({ error });
}

/** A query number: digits only, clamped to [min, max] (however many digits); anything else is the fallback. */
export function int(v: unknown, fallback: number, min: number, max: number): number {
  if (typeof v !== "string" || !/^\d+$/.test(v)) return fallback;
  return Math.max(min, Math.min(max, Number(v)));
}

/** An async handler whose unexpected failure is a plain 500 sentence, not a hung request. */
export function wrap(h: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res) => {
    h(req, res).catch(() => fail(res, 500, "the request could not be completed"));
  };
}

const mounted = new WeakMap<object, Set<string>>();

/**
 * Mounts one module's routes on an admin app once, however often it is asked (the plugins, every
 * node module and the tests all ask). `name` tells the modules apart. Returns false when the
 * routes were already there or there is no admin app (Node-RED without an editor).
 */
export function mountOnce(RED: Pick<AdminRED, "httpAdmin" | "auth">, name: string, mount: (app: Express, guards: Guards) => void): boolean {
  const app = RED.httpAdmin as Express | undefined;
  if (!app) return false;
  let names = mounted.get(app);
  if (!names) mounted.set(app, (names = new Set()));
  if (names.has(name)) return false;
  names.add(name);
  // Asked for only when a module uses it: a module of writes asks for no read permission.
  const auth = RED.auth;
  mount(app, {
    get read() { return auth.needsPermission("highball.read"); },
    get write() { return auth.needsPermission("highball.write"); },
  });
  return true;
}

import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";

/** What starting a tool takes, wherever it is started from (Node-RED or the spawner). */
export interface ToolRequest { command: string; args: string[]; env: NodeJS.ProcessEnv; cwd?: string; stdin?: string; stdoutFile?: string }

/**
 * Starts a tool in a process group of its own, so one signal stops it and every child it
 * starts (ssh). With `stdoutFile` the tool appends its standard output to that file itself.
 * Throws at once on arguments that cannot be passed (a NUL in a path); a missing program
 * comes later, as the child's "error" event.
 */
export function startTool(req: ToolRequest): ChildProcess {
  let fd: number | undefined;
  try {
    if (req.stdoutFile !== undefined) fd = openSync(req.stdoutFile, "a");
    const child = spawn(req.command, req.args, {
      env: req.env,
      cwd: req.cwd,
      detached: true,
      stdio: [req.stdin === undefined ? "ignore" : "pipe", fd ?? "pipe", "pipe"],
    });
    if (req.stdin !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined); // the tool may exit before reading its password
      child.stdin.end(req.stdin);
    }
    return child;
  } finally {
    // The child has its own copy of the descriptor.
    if (fd !== undefined) closeSync(fd);
  }
}

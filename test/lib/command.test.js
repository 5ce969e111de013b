"use strict";
// The one runner for helper commands (lib/runs/command.ts): real processes, no mocks.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { runCommand, startCommand } = require("../../dist/lib/runs/command");

/** Running (a zombie waiting for a PID 1 that does not reap is not running). */
function alive(pid) {
  try { process.kill(pid, 0); } catch { return false; }
  try { return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1][0] !== "Z"; } catch { return false; }
}

async function until(cond, ms = 10000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the helper command runner", function () {
  let dir;
  before(function () { dir = fs.mkdtempSync(path.join(os.tmpdir(), "hb-command-")); });
  after(function () { fs.rmSync(dir, { recursive: true, force: true }); });

  it("runs an argument array, no shell: a ; in an argument is a character", async function () {
    const r = await runCommand({ command: "printf", args: ["%s|", "a; touch " + path.join(dir, "pwned"), "$(id)"] });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `a; touch ${path.join(dir, "pwned")}|$(id)|`);
    assert.equal(fs.existsSync(path.join(dir, "pwned")), false);
  });

  it("passes env and stdin, keeps the secret off the command line", async function () {
    const r = await runCommand({ command: "sh", args: ["-c", 'printf "%s/" "$HB_SECRET"; cat'], env: { HB_SECRET: "s3cret" }, stdin: "from stdin" });
    assert.equal(r.stdout, "s3cret/from stdin");
  });

  it("bounds what it keeps: the head of stdout, the tail of stderr, and still reads to the end", async function () {
    const r = await runCommand({ command: "sh", args: ["-c", "head -c 300000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero | tr '\\0' b >&2; echo END >&2"] }, { maxStdout: 1000, maxStderr: 100 });
    assert.equal(r.code, 0, "the command was not blocked on a full pipe");
    assert.equal(r.stdout, "a".repeat(1000));
    assert.equal(r.truncated, true);
    assert.equal(r.stderr.length, 100);
    assert.ok(r.stderr.endsWith("bEND\n"));
  });

  it("says a missing program in a sentence, never throws", async function () {
    const r = await runCommand({ command: "/nonexistent/tool", args: [] });
    assert.equal(r.code, null);
    assert.equal(r.spawnError, "/nonexistent/tool is not installed (command not found)");
    const nul = await runCommand({ command: "echo", args: ["a\0b"] });
    assert.match(nul.spawnError, /^echo could not be started/);
  });

  it("a timeout stops the whole process group, children included", async function () {
    const pidFile = path.join(dir, "child.pid");
    const t = Date.now();
    const r = await runCommand({ command: "sh", args: ["-c", `sleep 30 & echo $! > ${pidFile}; wait`], timeoutMs: 300 });
    assert.equal(r.timedOut, true);
    assert.ok(Date.now() - t < 10000);
    const child = Number(fs.readFileSync(pidFile, "utf8"));
    await until(() => !alive(child));
  });

  it("hands each line to a log sink as it comes", async function () {
    const lines = [];
    const r = await runCommand({ command: "sh", args: ["-c", "echo one; echo two >&2; printf three"], line: (stream, l) => lines.push(`${stream}:${l}`) });
    assert.equal(r.code, 0);
    assert.deepEqual(lines.sort(), ["stderr:two", "stdout:one", "stdout:three"]);
  });

  it("kill of a command that catches SIGTERM and is held on a full pipe nobody reads: drained, then SIGKILL 5 s on", async function () {
    this.timeout(20000);
    // Ignores SIGTERM and writes as fast as it can; the caller stopped reading after one chunk.
    const script = "process.on('SIGTERM', () => {}); const b = Buffer.alloc(1 << 16, 120); (function w() { process.stdout.write(b, w); })();";
    const c = startCommand({ command: process.execPath, args: ["-e", script] });
    await new Promise((resolve) => c.stdout.once("data", resolve));
    c.stdout.pause();
    const t0 = Date.now();
    c.kill();
    const exit = await c.done;
    assert.equal(exit.signal, "SIGKILL");
    const ms = Date.now() - t0;
    assert.ok(ms >= 4500 && ms < 15000, `killed after ${ms} ms`);
    assert.equal(alive(c.pid), false);
  });

  it("streams stdout to a caller that parses it, and kill stops the group", async function () {
    const c = startCommand({ command: "sh", args: ["-c", "echo first; sleep 30"] });
    assert.ok(c.pid > 0);
    const first = await new Promise((resolve) => c.stdout.once("data", (b) => resolve(String(b))));
    assert.equal(first, "first\n");
    c.stdout.resume();
    c.kill();
    const exit = await c.done;
    assert.equal(exit.signal, "SIGTERM");
    assert.equal(exit.spawnError, null);
    const missing = startCommand({ command: "/nonexistent/restic", args: [] });
    const chunks = [];
    missing.stdout.on("data", (b) => chunks.push(b));
    const gone = await missing.done;
    assert.equal(gone.spawnError, "/nonexistent/restic is not installed (command not found)");
    assert.equal(chunks.length, 0);
  });
});

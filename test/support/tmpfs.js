"use strict";
// A small tmpfs of our own for full-disk tests (root only), unmounted by the test that made it.
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { tmpDir } = require("../fixtures/util");

/** Root, and allowed to mount (a container without CAP_SYS_ADMIN is not): tried once. */
let mountable;
function canMount() {
  if (mountable === undefined) {
    mountable = false;
    if (process.getuid && process.getuid() === 0) {
      try { mountTmpfs("64k").umount(); mountable = true; } catch { /* not here */ }
    }
  }
  return mountable;
}

function mountTmpfs(size = "2m") {
  const dir = tmpDir("tmpfs");
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  return {
    dir,
    /** Fills the disk, leaving about `leave` bytes; answers the filler file. */
    fill(leave = 0) {
      const f = path.join(dir, `filler-${Date.now()}`);
      try { execFileSync("dd", ["if=/dev/zero", `of=${f}`, "bs=4k"], { stdio: "ignore" }); } catch { /* full: that was the point */ }
      if (leave) fs.truncateSync(f, Math.max(0, fs.statSync(f).size - leave));
      return f;
    },
    free() {
      for (const f of fs.readdirSync(dir)) if (f.startsWith("filler-")) fs.rmSync(path.join(dir, f));
    },
    umount() {
      try { execFileSync("umount", ["-l", dir]); } catch { /* already */ }
    },
  };
}

module.exports = { mountTmpfs, canMount };

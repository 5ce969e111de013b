"use strict";
// Small builders for the flows node tests load, and promises for what a node sends.
const fs = require("node:fs");
const path = require("node:path");

const backupJob = require("../../dist/nodes/highball-backup-job/highball-backup-job.js");
const rsyncRun = require("../../dist/nodes/highball-rsync-run/highball-rsync-run.js");

/** schedule-less pipeline: backup-job → rsync-run → result / progress helpers, and a catch node. */
function rsyncFlow(job, { creds, runProps = {} } = {}) {
  const flow = [
    { id: "tab", type: "tab", label: "t" },
    { id: "j1", z: "tab", type: "highball-backup-job", ...job, wires: [["run"]] },
    { id: "run", z: "tab", type: "highball-rsync-run", name: "rsync", ...runProps, wires: [["result"], ["progress"]] },
    { id: "result", z: "tab", type: "helper" },
    { id: "progress", z: "tab", type: "helper" },
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  ];
  return { flow, creds: creds ? { j1: creds } : {} };
}

/** Resolves with the next message a helper node receives. */
function next(helper, id, timeout = 60000) {
  return new Promise((resolve, reject) => {
    const node = helper.getNode(id);
    const t = setTimeout(() => reject(new Error(`no message reached ${id} within ${timeout} ms`)), timeout);
    node.once("input", (msg) => { clearTimeout(t); resolve(msg); });
  });
}

/**
 * Resolves with the next progress message that is not a run's start (its first message on
 * output 2, msg.run.start): the tool is running and has said how far it got.
 */
function copying(helper, id = "progress", timeout = 60000) {
  return new Promise((resolve, reject) => {
    const node = helper.getNode(id);
    const t = setTimeout(() => reject(new Error(`no progress reached ${id} within ${timeout} ms`)), timeout);
    const on = (msg) => {
      if (msg.run && msg.run.start) return;
      clearTimeout(t);
      node.off("input", on);
      resolve(msg);
    };
    node.on("input", on);
  });
}

/** Every message a helper node receives, collected as they come. */
function collect(helper, id) {
  const got = [];
  helper.getNode(id).on("input", (msg) => got.push(msg));
  return got;
}

function knownHosts(home, ...lines) {
  fs.mkdirSync(path.join(home, "ssh"), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(home, "ssh", "known_hosts"), lines.join("\n") + "\n", { mode: 0o600 });
}

module.exports = { backupJob, rsyncRun, rsyncFlow, next, copying, collect, knownHosts };

"use strict";
// The demo is the first flow a user sees: a Highball node's status line (state, time, restic
// version) is drawn under the node and must not run under the node to its right.
const assert = require("node:assert/strict");
const { demoFlows } = require("../../scripts/lib/demo-flows");

// Node-RED draws a node about 7 px per character of its label plus 50 px of icon and ports
// (at least 100 px), 30 px high, centred on (x, y); a status text starts at the node's left
// edge + 20 px, ~6 px per character at 11 px: "success 23:59 · restic 0.19.0" is ~30 characters,
// an rsync node's "success 23:59" ~16.
const box = (n) => {
  const w = Math.max(100, 7 * String(n.name || n.type).length + 50);
  return { left: n.x - w / 2, right: n.x + w / 2, top: n.y - 15, bottom: n.y + 15 };
};
const statusBox = (n) => {
  const b = box(n);
  const chars = n.type === "highball-restic-run" || n.engine === "restic" ? 30 : 16;
  return { left: b.left, right: b.left + 20 + 6 * chars, top: b.bottom, bottom: b.bottom + 18 };
};
const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

describe("the demo flow's layout", function () {
  it("leaves each Highball node's status line clear of the other nodes", function () {
    const nodes = demoFlows("/data").filter((n) => typeof n.x === "number" && n.type !== "comment");
    for (const n of nodes.filter((x) => /^highball-(backup-job|rsync-run|restic-run)$/.test(x.type))) {
      for (const o of nodes) {
        if (o !== n) assert.ok(!overlap(statusBox(n), box(o)), `${n.name}'s status runs under ${o.name}`);
      }
    }
  });
});

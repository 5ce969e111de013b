"use strict";
// The demo user dir's package.json (scripts/demo.js).
const fs = require("node:fs");
const path = require("node:path");

/**
 * The user dir's package.json names the checkout (file:<relative path>), as `npm install <path>`
 * would: npm, and Node-RED's palette manager through it, keep what package.json lists, so
 * installing another package there (Dashboard 2.0, say) leaves this one in place. What is listed
 * already (packages installed from the palette) stays.
 */
function listPackage(dir, root) {
  const file = path.join(dir, "package.json");
  let pkg = {};
  try { pkg = JSON.parse(fs.readFileSync(file, "utf8")); } catch { /* none yet, or unreadable: start one */ }
  const spec = `file:${path.relative(dir, root) || "."}`;
  if (pkg.dependencies && pkg.dependencies["@highball/node-red-backup"] === spec) return;
  pkg = { name: "highball-demo", description: "Node-RED user dir of the Highball demo (npm start)", version: "0.0.0", private: true, ...pkg };
  pkg.dependencies = { ...(pkg.dependencies || {}), "@highball/node-red-backup": spec };
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
}

module.exports = { listPackage };

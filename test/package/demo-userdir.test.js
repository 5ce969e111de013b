"use strict";
// The demo's user dir (scripts/demo.js, .demo/) lists this package in its package.json, so
// installing another package there (as the palette manager or `npm install` does) keeps it;
// checked with the real npm, offline, installing a local package.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { listPackage } = require("../../scripts/lib/demo-package");
const { tmpDir } = require("../fixtures/util");

const root = path.resolve(__dirname, "../..");

describe("the demo's user dir", function () {
  this.timeout(180000);

  it("keeps this package when another one is installed there with npm", function () {
    const dir = tmpDir("demo-userdir");
    const userDir = path.join(dir, ".demo");
    const link = path.join(userDir, "node_modules", "@highball", "node-red-backup");
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(root, link, "dir");
    listPackage(userDir, root);
    const other = path.join(dir, "other-package");
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, "package.json"), JSON.stringify({ name: "other-package", version: "1.0.0" }));
    const r = spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--save", other], { cwd: userDir, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(link, "package.json")), "the package is still installed in the user dir");
    assert.equal(fs.realpathSync(link), fs.realpathSync(root));
    const pkg = JSON.parse(fs.readFileSync(path.join(userDir, "package.json"), "utf8"));
    assert.ok(pkg.dependencies["other-package"], "the other package is listed");
    assert.match(pkg.dependencies["@highball/node-red-backup"], /^file:/);
    // The next `npm start` keeps what was installed meanwhile.
    listPackage(userDir, root);
    assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(path.join(userDir, "package.json"), "utf8")).dependencies).sort(), ["@highball/node-red-backup", "other-package"]);
  });

  it("does not switch off the palette manager's install (the dashboard example's Manage palette)", function () {
    const demo = fs.readFileSync(path.join(root, "scripts", "demo.js"), "utf8");
    assert.doesNotMatch(demo, /allowInstall\s*:\s*false/);
    assert.doesNotMatch(demo, /palette\s*:\s*\{\s*editable\s*:\s*false/);
  });
});

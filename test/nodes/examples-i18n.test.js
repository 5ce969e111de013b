"use strict";
// Message catalogues (nodes/*/locales/<lang>/<type>.json and the plugins' when they have any):
// every language has exactly the en-US keys, the same __placeholders__, and no empty text; every
// key the editor asks for exists in en-US. Pure file checks (run with the node suites, where the
// editor files live).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..", "..");

/** Dotted key → value, for every leaf of a catalogue. */
function leaves(obj, prefix = "") {
  const out = new Map();
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) for (const [kk, vv] of leaves(v, key)) out.set(kk, vv);
    else out.set(key, v);
  }
  return out;
}

const placeholders = (text) => [...String(text).matchAll(/__([A-Za-z0-9_]+)__/g)].map((m) => m[1]).sort();

/** Every catalogue set: nodes/<type> and plugins/<name> that have a locales folder. */
function sets() {
  const out = [];
  for (const group of ["nodes", "plugins"]) {
    const dir = path.join(root, group);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) {
      const locales = path.join(dir, name, "locales");
      if (!fs.existsSync(locales)) continue;
      out.push({ group, name, locales, langs: fs.readdirSync(locales).filter((l) => fs.statSync(path.join(locales, l)).isDirectory()) });
    }
  }
  return out;
}

describe("message catalogues", function () {
  const all = sets();
  const nodeTypes = Object.keys(JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))["node-red"].nodes);

  it("every node of the package has an en-US and a German catalogue", function () {
    for (const type of nodeTypes) {
      const s = all.find((x) => x.group === "nodes" && x.name === type);
      assert.ok(s, `${type} has locales/`);
      for (const lang of ["en-US", "de"]) assert.ok(fs.existsSync(path.join(s.locales, lang, `${type}.json`)), `${type}: locales/${lang}/${type}.json`);
    }
  });

  for (const s of all) {
    for (const lang of s.langs.filter((l) => l !== "en-US")) {
      it(`${s.group}/${s.name}: ${lang} has exactly the en-US keys and placeholders`, function () {
        for (const file of fs.readdirSync(path.join(s.locales, "en-US")).filter((f) => f.endsWith(".json"))) {
          const en = leaves(JSON.parse(fs.readFileSync(path.join(s.locales, "en-US", file), "utf8")));
          const other = path.join(s.locales, lang, file);
          assert.ok(fs.existsSync(other), `${lang}/${file} exists`);
          const tr = leaves(JSON.parse(fs.readFileSync(other, "utf8")));
          const missing = [...en.keys()].filter((k) => !tr.has(k));
          const extra = [...tr.keys()].filter((k) => !en.has(k));
          assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${lang}/${file} against en-US`);
          for (const [k, v] of tr) {
            assert.equal(typeof v, typeof en.get(k), `${k}: same kind of value`);
            if (typeof v === "string") {
              assert.ok(v.trim() !== "", `${k} is not empty`);
              assert.deepEqual(placeholders(v), placeholders(en.get(k)), `${k}: same __placeholders__`);
            }
          }
        }
      });
    }
  }

  it("every catalogue key a node's editor asks for exists in en-US", function () {
    const problems = [];
    for (const type of nodeTypes) {
      const dir = path.join(root, "nodes", type);
      const html = fs.readFileSync(path.join(dir, `${type}.html`), "utf8");
      const en = leaves(JSON.parse(fs.readFileSync(path.join(dir, "locales", "en-US", `${type}.json`), "utf8")));
      const asked = new Set();
      for (const m of html.matchAll(/data-i18n="([^"]+)"/g)) {
        for (const part of m[1].split(";")) asked.add(part.replace(/^\[[^\]]+\]/, "").trim());
      }
      // A key ending in "." is the start of a computed one (`"x.outputs." + name`): its prefix must exist.
      for (const m of html.matchAll(/\b_\(\s*["']([^"']+)["']/g)) asked.add(m[1].endsWith(".") ? `${m[1]}*` : m[1]);
      for (const key of asked) {
        if (!key.startsWith(`${type}.`)) continue; // node-red:common.* and other catalogues
        if (key.endsWith(".*")) {
          const prefix = key.slice(0, -1);
          if (![...en.keys()].some((k) => k.startsWith(prefix))) problems.push(`${type}: no key under ${prefix}`);
        } else if (!en.has(key)) {
          problems.push(`${type}: ${key}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});

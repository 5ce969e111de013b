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

/** i18next's plural suffixes: `t("x", { count })` looks up `x_one`, `x_other`, … */
const PLURAL = /_(zero|one|two|few|many|other)$/;
/** Whether a lookup of `key` finds a text: the key itself, or its plural forms. */
const resolves = (en, key) => en.has(key) || en.has(`${key}_other`);

/**
 * The keys a plugin's editor script asks for: through its helper `t("key", …)` (which prefixes
 * the plugin's namespace) or `RED._("<namespace>:key", …)`. A key ending in "." is the start of
 * a computed one (`t("status." + s)`) and comes back as "<prefix>*".
 */
function pluginKeys(html, namespace) {
  const asked = new Set();
  const add = (k) => asked.add(k.endsWith(".") ? `${k}*` : k);
  for (const m of html.matchAll(/(?<![\w.$])t\(\s*["']([^"']+)["']/g)) add(m[1]);
  const ns = namespace.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  for (const m of html.matchAll(new RegExp(`RED\\._\\(\\s*["']${ns}:([^"']+)["']`, "g"))) add(m[1]);
  return asked;
}

describe("message catalogues", function () {
  const all = sets();
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const nodeTypes = Object.keys(pkg["node-red"].nodes);
  const plugins = Object.keys(pkg["node-red"].plugins || {});

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

  it("every plugin of the package has an en-US and a German catalogue", function () {
    assert.ok(plugins.length > 0, "package.json lists no plugins");
    for (const name of plugins) {
      const s = all.find((x) => x.group === "plugins" && x.name === name);
      assert.ok(s, `plugins/${name} has locales/`);
      for (const lang of ["en-US", "de"]) assert.ok(fs.existsSync(path.join(s.locales, lang, `${name}.json`)), `${name}: locales/${lang}/${name}.json`);
    }
  });

  // Node-RED loads a plugin's catalogue under the plugin's id, <module>/<plugin>
  // (@node-red/registry loader.js, loadNodeLocales): the script must ask in that namespace.
  it("every catalogue key a plugin's editor script asks for exists in en-US, in the plugin's namespace", function () {
    const problems = [];
    for (const name of plugins) {
      const namespace = `${pkg.name}/${name}`;
      const html = fs.readFileSync(path.join(root, "plugins", name, `${name}.html`), "utf8");
      if (!html.includes(`var NS = "${namespace}";`)) problems.push(`${name}: NS is not "${namespace}"`);
      if (!/function t\(key, opts\) \{ return RED\._\(NS \+ ":" \+ key, opts\); \}/.test(html)) problems.push(`${name}: no t() helper over NS`);
      const en = leaves(JSON.parse(fs.readFileSync(path.join(root, "plugins", name, "locales", "en-US", `${name}.json`), "utf8")));
      const asked = pluginKeys(html, namespace);
      if (asked.size === 0) problems.push(`${name}: asks for no key`);
      for (const key of asked) {
        if (key.endsWith(".*")) {
          const prefix = key.slice(0, -1);
          if (![...en.keys()].some((k) => k.startsWith(prefix))) problems.push(`${name}: no key under ${prefix}`);
        } else if (!resolves(en, key)) {
          problems.push(`${name}: ${key}`);
        }
      }
      // And the other way round: a key no script asks for is a leftover (or a typo on one side).
      const prefixes = [...asked].filter((k) => k.endsWith(".*")).map((k) => k.slice(0, -1));
      for (const k of en.keys()) {
        const used = asked.has(k) || asked.has(k.replace(PLURAL, "")) || prefixes.some((p) => k.startsWith(p));
        if (!used) problems.push(`${name}: en-US has ${k}, which the script never asks for`);
      }
      // A plural key needs its "one" and "other" forms.
      for (const k of en.keys()) {
        if (PLURAL.test(k)) for (const form of ["one", "other"]) if (!en.has(k.replace(PLURAL, `_${form}`))) problems.push(`${name}: ${k} without _${form}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  // The scripts build their DOM in code: words put on screen straight from a string literal
  // would stay English in every language.
  it("a plugin's editor script puts no literal words on screen", function () {
    const problems = [];
    const screen = [
      /(?:\.text|createTextNode|RED\.notify|notify)\(\s*"((?:[^"\\]|\\.)*)"/g,
      /\.attr\(\s*"(?:title|placeholder|aria-label)"\s*,\s*"((?:[^"\\]|\\.)*)"/g,
      /\b(?:label|name|title|text)\s*:\s*"((?:[^"\\]|\\.)*)"/g,
      /<(?:label|button|span|div|h4|p|option)\b[^<>]*>([^<>"'\n]*[A-Za-z]{2,}[^<>"'\n]*)</g,
    ];
    for (const name of plugins) {
      const html = fs.readFileSync(path.join(root, "plugins", name, `${name}.html`), "utf8");
      const script = html.slice(html.indexOf("<script"));
      for (const re of screen) {
        for (const m of script.matchAll(re)) if (/[A-Za-z]{2,}/.test(m[1])) problems.push(`${name}: ${m[0]}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});

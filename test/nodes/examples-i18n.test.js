"use strict";
// Message catalogues (nodes/*/locales/<lang>/<type>.json and the plugins' when they have any):
// every language has exactly the en-US keys, the same __placeholders__, and no empty text; every
// key the editor asks for exists in en-US. Pure file checks (run with the node suites, where the
// editor files live).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const acorn = require("acorn");

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

/**
 * Words in a text that read the same in every language and need no catalogue: tools, formats,
 * products, and the example identifiers of a few placeholders ("nas", the restic command "backup").
 */
const NAMES = new Set(["rsync", "restic", "ssh", "ssh-keygen", "HTML", "MarkdownV2", "Telegram", "Highball", "highball", "homeassistant", "nas", "backup"]);

/**
 * The words of a text a user would read as English: what is left once paths, hosts, e-mail
 * addresses, options (--x), numbers, identifiers (a_b, env.*), {{template}} and __catalogue__
 * placeholders and NAMES are taken out. "e.g." counts as a word.
 */
function words(text) {
  return String(text)
    .replace(/&[#\w]+;/g, " ")
    .replace(/\{\{[^}]*\}\}|__\w+__/g, " ")
    .split(/[\s,;()[\]|"'=<>]+/)
    .filter((tok) => !/[/@_0-9#*\\]|^-|[A-Za-z]{2,}\.[A-Za-z]{2,}/.test(tok))
    .map((tok) => tok.replace(/^[^A-Za-z]+/, "").replace(/[^A-Za-z.]+$/, ""))
    .filter((w) => (/[A-Za-z]{2,}/.test(w) || /^[A-Za-z]\.[A-Za-z]\.?$/.test(w)) && !NAMES.has(w.replace(/\.+$/, "")));
}

/**
 * Literal words in a piece of editor HTML (the edit template, or a tag string in the script):
 * text between tags, and placeholder / title / aria-label attributes. An element with
 * data-i18n gets its text from the catalogue, so it is empty in the file. A placeholder that
 * starts with "-" is an example command line (--host nas --tag nightly) and stays as it is.
 */
function htmlWords(html) {
  const out = [];
  for (const m of html.matchAll(/\s(placeholder|title|aria-label)="([^"]*)"/g)) {
    if (!m[2].startsWith("-") && words(m[2]).length) out.push(`${m[1]}="${m[2]}"`);
  }
  for (const m of html.matchAll(/>([^<>]+)</g)) if (words(m[1]).length) out.push(`text "${m[1].trim()}"`);
  return out;
}

/**
 * Literal words an editor script puts on screen. The script is parsed (acorn) and every string
 * literal that can reach the screen is checked with words():
 * - what is passed to .text() / .html() / .append() / .prepend(), RED.notify(), confirm(),
 *   alert(), .attr("placeholder" | "title" | "aria-label", …);
 * - the values of the definition's paletteLabel / label / addButton / title / text /
 *   outputLabels properties, and what their functions return;
 * - followed through the script's own functions and variables: a function whose parameter is
 *   shown (checkRow(box, ok, label, text) → .text(label)) makes that argument of its calls a
 *   sink, a function whose result is shown (ago(ms)) makes its return values one, and a
 *   variable that is shown (HINTS[type], text) makes what it is set to (var x = …, x = …) one;
 * - tag strings anywhere in the script ('<input placeholder="…">') as htmlWords() does.
 * Within a sink, the value is followed through +, ?: (not its test), ||, &&, member objects
 * (x.y, not the [index]), object values and array elements; a catalogue lookup (_(), RED._(),
 * this._(), node._()) ends it (its key is no text), though its interpolation values are followed.
 * Variables are matched by name, not scope. Words that reach the screen any other way (through
 * a callback's parameter, an object property set later, a string built in a loop) are not seen.
 */
function scriptWords(code) {
  const ast = acorn.parse(code, { ecmaVersion: 2020 });
  const fns = new Map(); // name → function node
  const vars = new Map(); // name → the values it is set to (var x = …, x = …)
  const setTo = (name, value) => { if (!vars.has(name)) vars.set(name, []); vars.get(name).push(value); };
  const literals = [];
  (function index(n) {
    if (!n || typeof n.type !== "string") return;
    if (n.type === "FunctionDeclaration" && n.id) fns.set(n.id.name, n);
    if (n.type === "VariableDeclarator" && n.id.type === "Identifier" && n.init) {
      if (/^(Arrow)?FunctionExpression$/.test(n.init.type)) fns.set(n.id.name, n.init);
      else setTo(n.id.name, n.init);
    }
    if (n.type === "AssignmentExpression" && n.left.type === "Identifier") setTo(n.left.name, n.right);
    if (n.type === "Literal" && typeof n.value === "string") literals.push(n.value);
    for (const k of Object.keys(n)) {
      const v = n[k];
      if (Array.isArray(v)) v.forEach(index); else if (v && typeof v.type === "string" && k !== "parent") index(v);
    }
  })(ast);

  const isLookup = (call) => (call.callee.type === "Identifier" && call.callee.name === "_")
    || (call.callee.type === "MemberExpression" && !call.callee.computed && call.callee.property.name === "_");
  const prop = (n) => (n.type === "MemberExpression" && !n.computed ? n.property.name : null);
  const SCREEN = new Set(["text", "html", "append", "prepend"]);
  const SCREEN_CALLS = new Set(["notify", "confirm", "alert"]);
  const SCREEN_ATTRS = new Set(["placeholder", "title", "aria-label"]);
  const SCREEN_PROPS = new Set(["paletteLabel", "label", "addButton", "title", "text", "outputLabels"]);

  const problems = new Set();
  const shownParams = new Map(); // function name → Set of parameter positions
  const shownResults = new Set(); // function names
  const shownVars = new Set();
  const returns = (fn) => {
    const out = [];
    (function walk(n, top) {
      if (!n || typeof n.type !== "string") return;
      if (!top && /Function/.test(n.type)) return; // a nested function's returns are its own
      if (n.type === "ReturnStatement" && n.argument) out.push(n.argument);
      for (const k of Object.keys(n)) {
        const v = n[k];
        if (Array.isArray(v)) v.forEach((x) => walk(x, false)); else if (v && typeof v.type === "string") walk(v, false);
      }
    })(fn, true);
    return out;
  };

  /** Follows one value that reaches the screen; `shown` collects the identifiers it reads. */
  function follow(n, shown) {
    if (!n) return;
    switch (n.type) {
      case "Literal":
        if (typeof n.value === "string" && words(n.value).length) problems.add(JSON.stringify(n.value));
        return;
      case "Identifier": shown.add(n.name); return;
      case "BinaryExpression": if (n.operator === "+") { follow(n.left, shown); follow(n.right, shown); } return;
      case "LogicalExpression": follow(n.left, shown); follow(n.right, shown); return;
      case "ConditionalExpression": follow(n.consequent, shown); follow(n.alternate, shown); return;
      case "MemberExpression": follow(n.object, shown); return;
      case "ObjectExpression": for (const p of n.properties) follow(p.value, shown); return;
      case "ArrayExpression": for (const e of n.elements) follow(e, shown); return;
      case "CallExpression":
        if (isLookup(n)) { for (const a of n.arguments.slice(1)) follow(a, shown); return; }
        if (n.callee.type === "Identifier") { if (fns.has(n.callee.name)) shownResults.add(n.callee.name); return; }
        if (n.callee.type === "MemberExpression") follow(n.callee.object, shown); // "a".concat(), x.join(", ")
        return;
      default:
    }
  }

  /** Every value in `root` that reaches the screen, by the sinks above; returns the identifiers shown. */
  function sinks(root) {
    const shown = new Set();
    (function walk(n) {
      if (!n || typeof n.type !== "string") return;
      if (n.type === "CallExpression") {
        const name = prop(n.callee);
        const callee = n.callee.type === "Identifier" ? n.callee.name : name;
        if (name && SCREEN.has(name)) follow(n.arguments[0], shown);
        if (callee && SCREEN_CALLS.has(callee)) follow(n.arguments[0], shown);
        if (name === "attr" && n.arguments[0] && SCREEN_ATTRS.has(n.arguments[0].value)) follow(n.arguments[1], shown);
        if (n.callee.type === "Identifier" && shownParams.has(n.callee.name)) {
          for (const i of shownParams.get(n.callee.name)) follow(n.arguments[i], shown);
        }
      }
      if (n.type === "Property" && SCREEN_PROPS.has(n.key.name ?? n.key.value)) {
        if (/Function/.test(n.value.type)) for (const r of returns(n.value)) follow(r, shown);
        else follow(n.value, shown);
      }
      for (const k of Object.keys(n)) {
        const v = n[k];
        if (Array.isArray(v)) v.forEach(walk); else if (v && typeof v.type === "string") walk(v);
      }
    })(root);
    return shown;
  }

  // To a fixed point: each round may find more shown parameters, results and variables.
  for (let before = -1; ;) {
    const size = () => [...shownParams.values()].reduce((a, s) => a + s.size, 0) + shownResults.size + shownVars.size;
    if (size() === before) break;
    before = size();
    const shown = sinks(ast);
    for (const [name, fn] of fns) {
      const inner = sinks(fn.body);
      fn.params.forEach((p, i) => {
        if (p.type === "Identifier" && inner.has(p.name)) {
          if (!shownParams.has(name)) shownParams.set(name, new Set());
          shownParams.get(name).add(i);
        }
      });
      for (const id of inner) if (vars.has(id)) shownVars.add(id);
    }
    for (const id of shown) if (vars.has(id)) shownVars.add(id);
    for (const name of shownResults) for (const r of returns(fns.get(name))) follow(r, new Set());
    for (const name of shownVars) for (const value of vars.get(name)) follow(value, new Set());
  }
  for (const text of literals) if (/^\s*</.test(text)) for (const w of htmlWords(text)) problems.add(w);
  return [...problems];
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
      // Keys chosen before the lookup: this._(i === 0 ? "<type>.a" : "<type>.b"), or a computed one's start.
      const own = type.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      for (const m of html.matchAll(new RegExp(`["'](${own}\\.[\\w.]+)["']`, "g"))) {
        if (!/\.(svg|png|html|js|json)$/.test(m[1])) asked.add(m[1].endsWith(".") ? `${m[1]}*` : m[1]); // not icon: "<type>.svg"
      }
      if (asked.size === 0) problems.push(`${type}: asks for no key`);
      for (const key of asked) {
        if (!key.startsWith(`${type}.`)) continue; // node-red:common.* and other catalogues
        if (key.endsWith(".*")) {
          const prefix = key.slice(0, -1);
          if (![...en.keys()].some((k) => k.startsWith(prefix))) problems.push(`${type}: no key under ${prefix}`);
        } else if (!resolves(en, key)) {
          problems.push(`${type}: ${key}`);
        }
      }
      // And the other way round: a key no editor asks for is a leftover (or a typo on one side).
      const prefixes = [...asked].filter((k) => k.endsWith(".*")).map((k) => k.slice(0, -1));
      for (const k of en.keys()) {
        const used = asked.has(k) || asked.has(k.replace(PLURAL, "")) || prefixes.some((p) => k.startsWith(p));
        if (!used) problems.push(`${type}: en-US has ${k}, which the editor never asks for`);
      }
      for (const k of en.keys()) {
        if (PLURAL.test(k)) for (const form of ["one", "other"]) if (!en.has(k.replace(PLURAL, `_${form}`))) problems.push(`${type}: ${k} without _${form}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  // The node editors, like the plugins: a word put on screen from a literal in the edit template
  // or the editor script would stay English in every language. The help text is left out (it is
  // documentation, in English), as is what the server sends (errors, hosts, fingerprints).
  it("a node's editor puts no literal words on screen", function () {
    const problems = [];
    for (const type of nodeTypes) {
      const html = fs.readFileSync(path.join(root, "nodes", type, `${type}.html`), "utf8");
      const template = new RegExp(`<script type="text/html" data-template-name="${type}">([\\s\\S]*?)</script>`).exec(html);
      assert.ok(template, `${type}: edit template`);
      for (const w of htmlWords(template[1])) problems.push(`${type} (template): ${w}`);
      const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
      assert.ok(scripts.length > 0, `${type}: editor script`);
      for (const code of scripts) for (const w of scriptWords(code)) problems.push(`${type} (script): ${w}`);
    }
    assert.deepEqual(problems, []);
  });

  // The check itself: it must see each kind of literal it claims to, and let names and examples be.
  it("the literal-word check sees words in templates and scripts, and not names or examples", function () {
    assert.deepEqual(words("e.g. 5M"), ["e.g."]);
    assert.deepEqual(words("0 = none"), ["none"]);
    assert.deepEqual(words("/home/nodered/.ssh/id_ed25519 nas.lan 0 3 * * * --delete env.* [Highball] {{job}} __n__ rsync"), []);
    assert.deepEqual(htmlWords('<div><label>Host</label><input placeholder="user"><input placeholder="--tag nightly"><span data-i18n="x.y"></span></div>'),
      ['placeholder="user"', 'text "Host"']);
    const code = `(function () {
      var HINTS = { str: "plain text" };
      function kind(p) { var text = p.error; if (p.ok) { text = p.dir ? "folder" : "file"; } row($("#p"), p.path, text); }
      function row(box, label, text) { $("<b>").text(label + ": ").appendTo(box); $("<span>").text(text || "").appendTo(box); }
      function ago(s) { return s < 60 ? "just now" : _("x.ago", { n: s }); }
      function fail(box, xhr) { row(box, _("x.check"), (xhr.responseJSON && xhr.responseJSON.error) || "could not run"); }
      RED.nodes.registerType("x", {
        paletteLabel: "backup job",
        label: function () { return this.name || this._("x.palette"); },
        oneditprepare: function () {
          if (this.type === "ssh and more") { return; }
          $("#a").on("input change", function () {});
          row($("#b"), "reachable", "✔");
          fail($("#b"), { responseJSON: { error: "enter a host first" } });
          $("#c").text(_("x.when", { ago: ago(3) }));
          $("#d").attr("placeholder", HINTS.str).attr("title", "Validate");
          RED.notify("Deploy first", "warning");
          $('<input type="text" placeholder="/absolute/path">');
          $('<input type="text" placeholder="a path">');
        }
      });
    })();`;
    assert.deepEqual(scriptWords(code).sort(), [
      '"Deploy first"', '"Validate"', '"backup job"', '"could not run"', '"enter a host first"', '"file"', '"folder"', '"just now"', '"plain text"', '"reachable"',
      'placeholder="a path"',
    ].sort());
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

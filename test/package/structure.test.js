"use strict";
// The shape of the house (docs/ENGINEERING.md, "Map of the house"), checked on the TypeScript
// sources so a future change that breaks it fails here: no circle of imports (type imports
// count: a circle of types is still two modules that cannot be understood apart), one process
// runner (only lib/runs/ starts processes), and node wrappers that only translate.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "../..");
const SOURCES = ["lib", "nodes", "plugins"];

function files(dir) {
  const out = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(rel));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

/** Comments out, strings kept: an import written in a comment is not an import. */
function code(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

/** The module names a file imports, re-exports, requires or imports dynamically. */
function specifiers(text) {
  const src = code(text);
  const names = [];
  const patterns = [
    /\b(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\b(?:require|import)\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of src.matchAll(re)) names.push(m[1]);
  return names;
}

function resolve(from, spec) {
  if (!spec.startsWith(".")) return null;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  for (const c of [`${base}.ts`, `${base}/index.ts`, base]) if (fs.existsSync(path.join(root, c)) && c.endsWith(".ts")) return c;
  return null;
}

function graph() {
  const all = SOURCES.flatMap(files);
  const edges = new Map();
  for (const f of all) {
    const text = fs.readFileSync(path.join(root, f), "utf8");
    edges.set(f, [...new Set(specifiers(text).map((s) => resolve(f, s)).filter(Boolean))]);
  }
  return edges;
}

/** Every circle, as the files on it (Tarjan's strongly connected components of size > 1, or a self-import). */
function circles(edges) {
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], on = new Set(), found = [];
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do { w = stack.pop(); on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(comp.sort());
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return found;
}

describe("structure of the source", function () {
  it("finds a circle when there is one (the walker itself works)", function () {
    const edges = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]);
    assert.deepEqual(circles(edges), [["a.ts", "b.ts", "c.ts"]]);
    assert.deepEqual(specifiers('import type { X } from "./x";\n// import { y } from "./y";\nexport { z } from "./z";\nconst w = require("./w");'), ["./x", "./z", "./w"]);
  });

  it("has no circle of imports in lib/, nodes/ or plugins/", function () {
    const edges = graph();
    assert.ok(edges.size > 50, `only ${edges.size} source files were found`);
    assert.ok([...edges.values()].some((e) => e.length > 0), "no import was read: the walker is broken");
    const found = circles(edges);
    assert.deepEqual(found, [], `circles of imports:\n${found.map((c) => c.join(" -> ")).join("\n")}`);
  });

  it("starts processes only in lib/runs/ (the one runner)", function () {
    const offenders = [];
    for (const f of SOURCES.flatMap(files)) {
      if (f.startsWith("lib/runs/")) continue;
      const names = specifiers(fs.readFileSync(path.join(root, f), "utf8"));
      for (const n of names) if (/^(node:)?child_process$|^execa$/.test(n)) offenders.push(`${f} imports ${n}`);
    }
    assert.deepEqual(offenders, []);
  });

  it("keeps node wrappers thin (at most 150 lines each)", function () {
    const long = files("nodes").map((f) => [f, fs.readFileSync(path.join(root, f), "utf8").split("\n").length - 1]).filter(([, n]) => n > 150);
    assert.deepEqual(long.map(([f, n]) => `${f}: ${n} lines`), []);
  });
});

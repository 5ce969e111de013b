/**
 * INI as PRestic reads it: Python's ConfigParser with its defaults (`=` or `:` delimiters,
 * whole-line `#`/`;` comments, indented continuation lines, a [DEFAULT] section shared by all,
 * `%(key)s` interpolation with `%%` for a literal percent) and PRestic's key rule: keys are
 * lower-cased except `env.*` ones.
 */
import { ProfileError } from "./options";

export interface IniSection {
  name: string;
  /** 1-based line of the section header. */
  line: number;
  /** Values after interpolation, [DEFAULT]'s included. */
  values: Record<string, string>;
}

const SECTION = /^\[(.+)\]/;
const OPTION = /^(.*?)\s*([=:])\s*(.*)$/;

function optionxform(key: string): string {
  return key.startsWith("env.") ? key : key.toLowerCase();
}

interface RawSection { name: string; line: number; values: Map<string, string[]> }

function interpolate(section: string, key: string, value: string, lookup: (k: string) => string | undefined, depth = 0): string {
  if (depth > 10) throw new ProfileError(`[${section}] ${key}: interpolation is nested too deeply (a %(...)s refers back to itself?)`);
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== "%") { out += c; continue; }
    const n = value[i + 1];
    if (n === "%") { out += "%"; i++; continue; }
    const m = /^%\(([^)]+)\)s/.exec(value.slice(i));
    if (!m) throw new ProfileError(`[${section}] ${key}: "%" must be followed by "%" or "(name)s" (write %% for a literal percent sign)`);
    const ref = optionxform(m[1]!);
    const v = lookup(ref);
    if (v === undefined) throw new ProfileError(`[${section}] ${key}: %(${m[1]})s refers to an option that does not exist`);
    out += interpolate(section, key, v, lookup, depth + 1);
    i += m[0].length - 1;
  }
  return out;
}

/** Parses INI text; throws ProfileError with the line number on malformed input. */
export function parseIni(text: string): IniSection[] {
  const sections: RawSection[] = [];
  const defaults: RawSection = { name: "DEFAULT", line: 0, values: new Map() };
  let cur: RawSection | null = null;
  let opt: string | null = null;
  let indent = Number.MAX_SAFE_INTEGER;
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    const stripped = raw.trim();
    const isComment = stripped.startsWith("#") || stripped.startsWith(";");
    if (stripped === "" || isComment) {
      // An empty line inside a value is kept (ConfigParser's empty_lines_in_values); comments never are.
      if (!isComment && cur && opt) cur.values.get(opt)!.push("");
      return;
    }
    const level = raw.length - raw.trimStart().length;
    if (cur && opt && level > indent) {
      cur.values.get(opt)!.push(stripped);
      return;
    }
    indent = level;
    const sec = SECTION.exec(stripped);
    if (sec) {
      const name = sec[1]!;
      if (name === "DEFAULT") cur = defaults;
      else {
        if (sections.some((s) => s.name === name)) throw new ProfileError(`line ${lineNo}: section [${name}] appears twice`);
        cur = { name, line: lineNo, values: new Map() };
        sections.push(cur);
      }
      opt = null;
      return;
    }
    if (!cur) throw new ProfileError(`line ${lineNo}: "${stripped.slice(0, 40)}" comes before any [section] header`);
    const m = OPTION.exec(stripped);
    if (!m || m[1] === "") throw new ProfileError(`line ${lineNo}: expected "key = value" in [${cur.name}], got "${stripped.slice(0, 60)}"`);
    const key = optionxform(m[1]!.trimEnd());
    if (cur.values.has(key)) throw new ProfileError(`line ${lineNo}: option "${key}" appears twice in [${cur.name}]`);
    cur.values.set(key, [m[3]!.trim()]);
    opt = key;
  });

  const joined = (s: RawSection): Map<string, string> =>
    new Map([...s.values].map(([k, v]) => [k, v.join("\n").trimEnd()]));
  const defs = joined(defaults);
  return sections.map((s) => {
    const own = joined(s);
    const all = new Map([...defs, ...own]);
    const values: Record<string, string> = {};
    for (const [k, v] of all) values[k] = interpolate(s.name, k, v, (ref) => all.get(ref));
    return { name: s.name, line: s.line, values };
  });
}

/**
 * Splitting option text into argument words. Lists (args, inherit, option) follow Python's
 * shlex.split, as PRestic does. Commands (password-command, executable) are run without any
 * shell, so characters a shell would interpret are refused instead of silently passed on.
 */

export class WordsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WordsError";
  }
}

/** Characters a shell would act on outside quotes; refused in commands. */
const SHELL_CHARS = new Set([";", "|", "&", "$", "`", ">", "<", "(", ")", "*", "?", "["]);

export interface SplitOptions {
  /** Refuse shell syntax (operators, expansions, globs, newlines) instead of keeping it literal. */
  strict?: boolean;
  /** Named in errors, e.g. `password-command`. */
  what?: string;
}

/**
 * POSIX-style word splitting: whitespace separates words, '...' is literal, "..." keeps
 * whitespace, a backslash escapes the next character. Throws WordsError on unbalanced quotes
 * and, in strict mode, on any character a shell would have interpreted.
 */
export function splitWords(text: string, opts: SplitOptions = {}): string[] {
  const what = opts.what ?? "value";
  const strict = opts.strict === true;
  const words: string[] = [];
  let word = "";
  let inWord = false;
  const refuse = (c: string, why: string): never => {
    throw new WordsError(`${what}: ${why} ${JSON.stringify(c)} is not allowed, because the command runs directly, without a shell (put literal characters in single quotes)`);
  };
  if (text.includes("\0")) throw new WordsError(`${what}: contains a NUL character`);
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (strict && (c === "\n" || c === "\r")) refuse(c === "\n" ? "\\n" : "\\r", "a line break");
      if (inWord) { words.push(word); word = ""; inWord = false; }
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new WordsError(`${what}: a single quote is not closed`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (;; j++) {
        if (j >= text.length) throw new WordsError(`${what}: a double quote is not closed`);
        const d = text[j]!;
        if (d === '"') break;
        if (d === "\\" && j + 1 < text.length) {
          const n = text[j + 1]!;
          // shlex escapes only the quote and the backslash inside double quotes; a shell also $ and `.
          const escapable = strict ? n === '"' || n === "\\" || n === "$" || n === "`" || n === "\n" : n === '"' || n === "\\";
          if (escapable) {
            if (n !== "\n") word += n;
            j++;
            continue;
          }
        }
        if (strict && (d === "$" || d === "`")) refuse(d, "inside double quotes the shell character");
        word += d;
      }
      inWord = true;
      i = j;
      continue;
    }
    if (c === "\\") {
      if (i + 1 >= text.length) throw new WordsError(`${what}: ends with a lone backslash`);
      const n = text[i + 1]!;
      i++;
      if (n === "\n") continue; // line continuation
      word += n;
      inWord = true;
      continue;
    }
    if (strict) {
      if (SHELL_CHARS.has(c)) refuse(c, "the shell character");
      if (!inWord && (c === "~" || c === "#")) refuse(c, c === "#" ? "a comment sign" : "the home-directory shorthand");
    }
    word += c;
    inWord = true;
  }
  if (inWord) words.push(word);
  if (strict && words.length === 0) throw new WordsError(`${what}: is empty`);
  return words;
}

/**
 * The same words as one string that restic's own splitter (internal/backend/shell_split.go,
 * used for RESTIC_PASSWORD_COMMAND and sftp.command) turns back into exactly these words.
 * That splitter knows quotes but no escapes, so a word needing both quote kinds is refused.
 */
export function joinForRestic(words: string[], what = "command"): string {
  return words.map((w) => {
    if (w === "") throw new WordsError(`${what}: restic cannot be given an empty word`);
    if (w.includes("\0")) throw new WordsError(`${what}: contains a NUL character`);
    if (!/[\s'"\\]/u.test(w)) return w;
    for (const q of ['"', "'"]) {
      // Inside quotes a backslash hides a following quote from restic's splitter.
      if (!w.includes(q) && !w.includes(`\\${q}`) && !w.endsWith("\\")) return `${q}${w}${q}`;
    }
    throw new WordsError(`${what}: the word ${JSON.stringify(w)} cannot be passed to restic (it holds both quote kinds or ends in a backslash)`);
  }).join(" ");
}

/**
 * Words as text that splitWords, strict, reads back as exactly these words: plain words bare,
 * any other in single quotes. The editor shows an argument array (a hook's command) this way.
 */
export function quoteWords(words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`)).join(" ");
}

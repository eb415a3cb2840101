/**
 * The pattern grammar of header rules: a recursive-descent parser over a JavaScript pattern's
 * code units (no flags), producing the tree that linear-regex.ts compiles. Whatever it does not
 * know is refused, so nothing V8 would read differently is ever accepted.
 * @module
 */

/** Largest `n` or `m` in `{n}`, `{n,}`, `{n,m}`. */
const MAX_REPEAT = 1000;

/** A pattern outside the accepted grammar; the message says what and where. */
export class UnsupportedPatternError extends Error {}

export type Node =
  | { readonly t: 'char'; readonly src: string }
  | { readonly t: 'seq'; readonly items: readonly Node[] }
  | { readonly t: 'alt'; readonly branches: readonly Node[] }
  | { readonly t: 'rep'; readonly node: Node; readonly min: number; readonly max: number }
  | { readonly t: 'bol' }
  | { readonly t: 'eol' };

/** Escapes that stand for one code unit (class escapes included) after a backslash. */
const LETTER_ESCAPES = 'dDwWsStnrvf';
const HEX = /^[0-9A-Fa-f]+$/;

/** Recursive-descent parser over the pattern's code units. */
export class Parser {
  private i = 0;
  constructor(private readonly source: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.source.length) this.fail(`unbalanced ")" at ${this.i}`);
    return node;
  }

  private fail(what: string): never {
    throw new UnsupportedPatternError(what);
  }

  private alternation(): Node {
    const branches = [this.sequence()];
    while (this.source[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    return branches.length === 1 ? branches[0]! : { t: 'alt', branches };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.source.length && this.source[this.i] !== '|' && this.source[this.i] !== ')') {
      items.push(this.quantified(this.atom()));
    }
    return items.length === 1 ? items[0]! : { t: 'seq', items };
  }

  private atom(): Node {
    const s = this.source;
    const at = this.i;
    const c = s[at]!;
    switch (c) {
      case '^':
        this.i++;
        return { t: 'bol' };
      case '$':
        this.i++;
        return { t: 'eol' };
      case '(':
        return this.group();
      case '[':
        return this.characterClass();
      case '\\':
        return this.escape();
      case '*':
      case '+':
      case '?':
        return this.fail(`nothing to repeat at ${at}`);
      case '{':
      case '}':
      case ']':
        return this.fail(`a literal "${c}" at ${at} (escape it: "\\${c}")`);
      default:
        this.i++;
        return { t: 'char', src: c };
    }
  }

  private group(): Node {
    const s = this.source;
    const at = this.i;
    this.i++;
    if (s[this.i] === '?') {
      if (s[this.i + 1] === ':') this.i += 2;
      else if (s[this.i + 1] === '<' && s[this.i + 2] !== '=' && s[this.i + 2] !== '!') {
        // A named group matches as a plain group; the name is not needed to test.
        const end = s.indexOf('>', this.i);
        if (end < 0) this.fail(`an unterminated group name at ${at}`);
        this.i = end + 1;
      } else this.fail(`a lookaround at ${at}`);
    }
    const node = this.alternation();
    if (s[this.i] !== ')') this.fail(`an unterminated group at ${at}`);
    this.i++;
    // A group may be repeated even when it holds only an assertion: `(^)?` is valid.
    return node.t === 'bol' || node.t === 'eol' ? { t: 'seq', items: [node] } : node;
  }

  private characterClass(): Node {
    const s = this.source;
    const at = this.i;
    let j = at + 1;
    if (s[j] === '^') j++;
    // Without the `u`/`v` flags a class always matches one code unit, and its first unescaped
    // `]` closes it (`[]` is the empty class): finding its end is all the structure needed.
    while (j < s.length && s[j] !== ']') j += s[j] === '\\' ? 2 : 1;
    if (j >= s.length) this.fail(`an unterminated class at ${at}`);
    this.i = j + 1;
    return { t: 'char', src: s.slice(at, j + 1) };
  }

  private escape(): Node {
    const s = this.source;
    const at = this.i;
    const c = s[at + 1];
    if (c === undefined) return this.fail(`a trailing "\\"`);
    let length = 2;
    if (LETTER_ESCAPES.includes(c)) length = 2;
    else if (c === 'x' && HEX.test(s.slice(at + 2, at + 4)) && at + 4 <= s.length) length = 4;
    else if (c === 'u' && HEX.test(s.slice(at + 2, at + 6)) && at + 6 <= s.length) length = 6;
    else if (/[0-9A-Za-z]/.test(c)) {
      const what =
        c === 'b' || c === 'B' ? 'a word boundary' : /[1-9]/.test(c) || c === 'k' ? 'a backreference' : 'this escape';
      return this.fail(`${what} ("\\${c}") at ${at}`);
    }
    // Any other character after a backslash stands for itself.
    this.i = at + length;
    return { t: 'char', src: s.slice(at, at + length) };
  }

  private quantified(node: Node): Node {
    const s = this.source;
    const at = this.i;
    let min: number;
    let max: number;
    const c = s[at];
    if (c === '*') [min, max, this.i] = [0, Infinity, at + 1];
    else if (c === '+') [min, max, this.i] = [1, Infinity, at + 1];
    else if (c === '?') [min, max, this.i] = [0, 1, at + 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(at));
      if (m === null) return this.fail(`a literal "{" at ${at} (escape it: "\\{")`);
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT))
        this.fail(`a repeat count above ${MAX_REPEAT} at ${at}`);
      this.i = at + m[0].length;
    } else return node;
    if (node.t === 'bol' || node.t === 'eol') this.fail(`nothing to repeat at ${at}`);
    // A lazy quantifier matches the same strings: test() only asks whether some match exists.
    if (s[this.i] === '?') this.i++;
    return { t: 'rep', node, min, max };
  }
}

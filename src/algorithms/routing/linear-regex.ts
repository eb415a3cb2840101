/**
 * Regular-expression matching in time linear in the input, for header rules: the values come
 * from outside clients, and a backtracking engine (V8's) takes exponential time on patterns such
 * as `^(a+)+$`. Whatever pattern is configured, matching here costs at most
 * `(length + 1) * states` steps.
 *
 * How: the pattern is parsed (regex-parser.ts) into a small grammar (characters, classes, `.`, anchors,
 * groups, alternation, quantifiers), compiled to a Thompson NFA, and run by keeping the set of
 * live states per input position (each state visited at most once per position), never by
 * backtracking. What one character matches is still decided by V8: each single-character atom
 * (`a`, `\d`, `[^a-z]`, `.`) is compiled on its own to a RegExp that tests one code unit, so the
 * semantics of classes and escapes are JavaScript's exactly. Only `test()` is needed (does some
 * substring match), so greediness and captures do not matter.
 *
 * Refused (they are not regular, or not worth the risk): backreferences, lookarounds, word
 * boundaries, a `{` or `}` that is not a quantifier, and patterns that compile to more than
 * MAX_REGEX_STATES states.
 * @module
 */

import { Parser, UnsupportedPatternError, type Node } from './regex-parser.js';

export { UnsupportedPatternError };

/** The pattern is in the grammar but compiles to more than MAX_REGEX_STATES states. */
export class PatternTooLargeError extends UnsupportedPatternError {}

/** Most NFA states a rule's pattern may compile to: bounds the cost per input character. */
export const MAX_REGEX_STATES = 256;

const CHAR = 0;
const SPLIT = 1;
const BOL = 2;
const EOL = 3;
const MATCH = 4;

/** One code unit's test: an ASCII table, and V8 for the rest. */
interface CharTest {
  readonly ascii: Uint8Array;
  readonly regex: RegExp;
}

/** The NFA under construction, built back to front: each state is created with its successors. */
class Builder {
  readonly kind: number[] = [];
  readonly out1: number[] = [];
  readonly out2: number[] = [];
  readonly test: (CharTest | null)[] = [];
  private readonly tests = new Map<string, CharTest>();

  add(kind: number, out1: number, out2 = -1, test: CharTest | null = null): number {
    if (this.kind.length >= MAX_REGEX_STATES)
      throw new PatternTooLargeError(
        `more than ${MAX_REGEX_STATES} states (shorten the pattern or its repeat counts)`,
      );
    this.kind.push(kind);
    this.out1.push(out1);
    this.out2.push(out2);
    this.test.push(test);
    return this.kind.length - 1;
  }

  /** The start state of `node` followed by state `next`. */
  compile(node: Node, next: number): number {
    switch (node.t) {
      case 'char':
        return this.add(CHAR, next, -1, this.charTest(node.src));
      case 'bol':
        return this.add(BOL, next);
      case 'eol':
        return this.add(EOL, next);
      case 'seq': {
        let start = next;
        for (let k = node.items.length - 1; k >= 0; k--) start = this.compile(node.items[k]!, start);
        return start;
      }
      case 'alt': {
        let start = this.compile(node.branches[node.branches.length - 1]!, next);
        for (let k = node.branches.length - 2; k >= 0; k--)
          start = this.add(SPLIT, this.compile(node.branches[k]!, next), start);
        return start;
      }
      case 'rep':
        return this.repeat(node.node, node.min, node.max, next);
    }
  }

  /** `x{min,max}` as min copies of x, then either a loop (max infinite) or max - min optional copies. */
  private repeat(node: Node, min: number, max: number, next: number): number {
    let start: number;
    if (max === Infinity) {
      const loop = this.add(SPLIT, -1, next);
      this.out1[loop] = this.compile(node, loop);
      start = loop;
    } else {
      start = next;
      for (let k = 0; k < max - min; k++) start = this.add(SPLIT, this.compile(node, start), next);
    }
    for (let k = 0; k < min; k++) start = this.compile(node, start);
    return start;
  }

  private charTest(src: string): CharTest {
    const known = this.tests.get(src);
    if (known !== undefined) return known;
    const regex = new RegExp(`^${src}$`);
    const ascii = new Uint8Array(128);
    for (let c = 0; c < 128; c++) ascii[c] = regex.test(String.fromCharCode(c)) ? 1 : 0;
    const test = { ascii, regex };
    this.tests.set(src, test);
    return test;
  }
}

/** A compiled pattern. Not re-entrant (its scratch arrays are shared), which a synchronous
 * function on one thread never needs. */
export class LinearRegex {
  private readonly kind: Uint8Array;
  private readonly out1: Int32Array;
  private readonly out2: Int32Array;
  private readonly tests: readonly (CharTest | null)[];
  private readonly start: number;
  /** No match can start after position 0 (every path begins with `^`): stop once no state lives. */
  private readonly anchored: boolean;
  private readonly current: Int32Array;
  private readonly next: Int32Array;
  private readonly stack: Int32Array;
  private readonly mark: Int32Array;
  private generation = 0;
  /** Work done by the last `test()`, in state visits: at most `(length + 1) * stateCount`. */
  lastSteps = 0;

  /** @throws UnsupportedPatternError outside the grammar; SyntaxError when V8 refuses it. */
  constructor(readonly source: string) {
    // V8 first: a pattern it refuses is a syntax error whatever our grammar says, and one it
    // accepts is then parsed by the grammar below, which refuses whatever it does not know.
    new RegExp(source);
    const builder = new Builder();
    const matchState = builder.add(MATCH, -1);
    this.start = builder.compile(new Parser(source).parse(), matchState);
    const n = builder.kind.length;
    this.kind = Uint8Array.from(builder.kind);
    this.out1 = Int32Array.from(builder.out1);
    this.out2 = Int32Array.from(builder.out2);
    this.tests = builder.test;
    this.current = new Int32Array(n);
    this.next = new Int32Array(n);
    this.stack = new Int32Array(2 * n + 2);
    this.mark = new Int32Array(n).fill(-1);
    this.anchored = this.startIsAnchored();
  }

  get stateCount(): number {
    return this.kind.length;
  }

  /** Whether some substring of `text` matches, as `new RegExp(source).test(text)`. */
  test(text: string): boolean {
    const length = text.length;
    const { out1, tests } = this;
    let current = this.current;
    let next = this.next;
    let size = 0;
    // One generation per position: a state enters that position's live set at most once,
    // whether it comes from the previous position or from the start state.
    let generation = this.nextGeneration();
    this.lastSteps = 0;
    for (let pos = 0; ; pos++) {
      // A match may start at any position: the start state joins the live set each time.
      if (pos === 0 || !this.anchored) {
        size = this.close(this.start, pos, length, generation, current, size);
        if (size < 0) return true;
      }
      if (pos === length || (size === 0 && this.anchored)) return false;
      const code = text.charCodeAt(pos);
      generation = this.nextGeneration();
      let nextSize = 0;
      for (let k = 0; k < size; k++) {
        const state = current[k]!;
        const test = tests[state]!;
        if (code < 128 ? test.ascii[code] !== 1 : !test.regex.test(text[pos]!)) continue;
        nextSize = this.close(out1[state]!, pos + 1, length, generation, next, nextSize);
        if (nextSize < 0) return true;
      }
      const swap = current;
      current = next;
      next = swap;
      size = nextSize;
    }
  }

  private nextGeneration(): number {
    if (this.generation === 0x7fffffff) {
      this.mark.fill(-1);
      this.generation = 0;
    }
    return ++this.generation;
  }

  /**
   * Adds the CHAR states reachable from `from` without consuming input at `pos` to `list`
   * (from index `size`), each state once per generation; returns the new size, or -1 when
   * MATCH is reachable.
   */
  private close(
    from: number,
    pos: number,
    length: number,
    generation: number,
    list: Int32Array,
    size: number,
  ): number {
    const { kind, out1, out2, mark, stack } = this;
    let top = 0;
    stack[top++] = from;
    while (top > 0) {
      const state = stack[--top]!;
      if (mark[state] === generation) continue;
      mark[state] = generation;
      this.lastSteps++;
      switch (kind[state]) {
        case CHAR:
          list[size++] = state;
          break;
        case SPLIT:
          stack[top++] = out2[state]!;
          stack[top++] = out1[state]!;
          break;
        case BOL:
          if (pos === 0) stack[top++] = out1[state]!;
          break;
        case EOL:
          if (pos === length) stack[top++] = out1[state]!;
          break;
        default:
          return -1;
      }
    }
    return size;
  }

  /** True when, after position 0, the start state reaches neither a character nor MATCH
   * (treating `$` as passable, since at the end it may be). */
  private startIsAnchored(): boolean {
    const seen = new Uint8Array(this.kind.length);
    const stack = [this.start];
    while (stack.length > 0) {
      const state = stack.pop()!;
      if (seen[state] === 1) continue;
      seen[state] = 1;
      const kind = this.kind[state];
      if (kind === CHAR || kind === MATCH) return false;
      if (kind === SPLIT) stack.push(this.out2[state]!, this.out1[state]!);
      else if (kind === EOL) stack.push(this.out1[state]!);
    }
    return true;
  }
}

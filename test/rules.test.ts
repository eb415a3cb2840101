import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { TrafficSplit } from '../src/index.js';
import { LinearRegex, MAX_REGEX_STATES, UnsupportedPatternError } from '../src/algorithms/routing/linear-regex.js';
import { MAX_REGEX_VALUE_LENGTH, parseRules } from '../src/algorithms/routing/rules.js';
import { callEcho } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';

const subsets = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' };
const regexRule = (regex: string) => ({
  subsets,
  weights: { v1: 1, v2: 0 },
  rules: [{ header: 'x-tenant', regex, subset: 'v2' }],
});

/** Patterns that make a backtracking engine take exponential or high polynomial time. */
const EVIL = [
  '^(a+)+$',
  '(a|a)*$',
  '(a*)*b',
  '^(a|aa)+$',
  '(.*a){12}',
  '^(\\w+\\s?)*$',
  '(x+x+)+y',
  '.*.*.*.*.*.*!',
  '^(([a-z])+.)+[A-Z]([a-z])+$',
  '(a|b|ab)*c',
];

/** The grammar the engine accepts, over a small alphabet so that matches are frequent. */
const pattern: fc.Arbitrary<string> = fc.letrec((tie) => ({
  atom: fc.oneof(
    // Depth and input length stay small: V8 itself backtracks exponentially on nested repeats.
    { maxDepth: 3, depthIdentifier: 'group' },
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        'a',
        'b',
        '.',
        '\\d',
        '\\w',
        '\\s',
        '[ab]',
        '[^a]',
        '[]',
        '[^]',
        '\\.',
        '\\n',
        '\\x61',
        '\\u0062',
        '-',
        '!',
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom('^', '$') },
    { weight: 2, arbitrary: tie('alt').map((inner) => `(${inner as string})`) },
    { weight: 1, arbitrary: tie('alt').map((inner) => `(?:${inner as string})`) },
  ),
  term: fc
    .tuple(
      tie('atom') as fc.Arbitrary<string>,
      fc.constantFrom('', '', '', '*', '+', '?', '{2}', '{1,}', '{0,2}', '*?', '+?'),
    )
    .map(([atom, quantifier]) => (atom === '^' || atom === '$' ? atom : atom + quantifier)),
  seq: fc.array(tie('term') as fc.Arbitrary<string>, { maxLength: 4 }).map((terms) => terms.join('')),
  alt: fc
    .array(tie('seq') as fc.Arbitrary<string>, { minLength: 1, maxLength: 3 })
    .map((branches) => branches.join('|')),
})).alt as fc.Arbitrary<string>;

describe('regex rules', () => {
  it('matches exactly as JavaScript RegExp does, over generated patterns and inputs', () => {
    fc.assert(
      fc.property(
        pattern,
        fc.array(fc.stringMatching(/^[ab0\n! _-]{0,6}$/), { minLength: 1, maxLength: 8 }),
        (source, inputs) => {
          let linear: LinearRegex;
          try {
            linear = new LinearRegex(source);
          } catch (error) {
            // Deeply nested repeats can exceed the state budget: a refusal, not a wrong answer.
            assert.match((error as Error).message, /^more than \d+ states/);
            fc.pre(false);
            return;
          }
          const native = new RegExp(source);
          for (const input of inputs)
            assert.equal(
              linear.test(input),
              native.test(input),
              `${JSON.stringify(source)} on ${JSON.stringify(input)}`,
            );
        },
      ),
      { numRuns: 3_000, seed: 20261129 },
    );
  });

  it('accepts arbitrary pattern text only where it matches as V8 does, and refuses the rest with a typed error', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc
        .array(
          fc.constantFrom(
            'a',
            'b',
            '\\',
            '(',
            ')',
            '[',
            ']',
            '{',
            '}',
            '^',
            '$',
            '|',
            '*',
            '+',
            '?',
            '.',
            ',',
            '1',
            '2',
            '-',
            ':',
            '<',
            '>',
            '=',
            '!',
            'c',
            'k',
            'u',
            'x',
            'd',
          ),
          { maxLength: 12 },
        )
        .map((chars) => chars.join('')),
    );
    let accepted = 0;
    fc.assert(
      fc.property(
        text,
        fc.array(fc.stringMatching(/^[ab12{}\\()[\]-]{0,5}$/), { minLength: 1, maxLength: 6 }),
        (source, inputs) => {
          let linear: LinearRegex;
          try {
            linear = new LinearRegex(source);
          } catch (error) {
            assert.ok(
              error instanceof SyntaxError || error instanceof UnsupportedPatternError,
              `${JSON.stringify(source)}: ${String(error)}`,
            );
            return;
          }
          accepted++;
          const native = new RegExp(source);
          for (const input of inputs)
            assert.equal(
              linear.test(input),
              native.test(input),
              `${JSON.stringify(source)} on ${JSON.stringify(input)}`,
            );
        },
      ),
      { numRuns: 20_000, seed: 7 },
    );
    assert.ok(accepted > 2_000, `only ${accepted} patterns accepted`);
  });

  it('accepts catastrophic patterns and matches them in at most (length + 1) x states steps', () => {
    for (const source of EVIL) {
      const regex = new LinearRegex(source);
      // The short inputs check the answer against V8 (fast at that length); the long ones, the work.
      for (const input of ['aaaa!', 'ab!', 'aaaa', ''])
        assert.equal(regex.test(input), new RegExp(source).test(input), `${source} on ${input}`);
      for (const input of ['a'.repeat(30) + '!', 'x'.repeat(40), 'ab'.repeat(20) + '!', 'a'.repeat(5_000)]) {
        regex.test(input);
        assert.ok(
          regex.lastSteps <= (input.length + 1) * regex.stateCount,
          `${source} on ${input.length} chars: ${regex.lastSteps} steps, ${regex.stateCount} states`,
        );
      }
    }
  });

  it('matches 1 MB adversarial inputs in linear work', () => {
    const megabyte = 'a'.repeat(1 << 20);
    for (const source of ['^(a+)+$', '(a|a)*$', '.*.*.*.*.*.*!', '(x+x+)+y']) {
      const regex = new LinearRegex(source);
      const input = `${megabyte}!`;
      const matched = regex.test(input);
      assert.equal(matched, source === '.*.*.*.*.*.*!' || source === '(a|a)*$', source);
      assert.ok(
        regex.lastSteps <= (input.length + 1) * regex.stateCount,
        `${source}: ${regex.lastSteps} steps for ${input.length} chars x ${regex.stateCount} states`,
      );
    }
  });

  it('never matches a value longer than MAX_REGEX_VALUE_LENGTH characters', () => {
    const [rule] = parseRules([{ header: 'x-tenant', regex: '^a+$', subset: 'v2' }], ['v1', 'v2']);
    const matches = (value: string) =>
      rule!.test(value, '', (v: string, key) => (key === 'x-tenant' ? [v] : undefined));
    assert.equal(matches('a'.repeat(MAX_REGEX_VALUE_LENGTH)), true);
    assert.equal(matches('a'.repeat(MAX_REGEX_VALUE_LENGTH + 1)), false);
    assert.equal(matches('a'.repeat(1 << 20)), false);
  });

  it('refuses patterns that are not regular, naming the rule', () => {
    const cases: [string, string][] = [
      [
        '^(a)\\1$',
        'rules[0].regex: expected a regular expression without backreferences, lookarounds ' +
          'or word boundaries (a backreference ("\\1") at 4), got `"^(a)\\\\1$"` (string)',
      ],
      [
        '(?<x>a)\\k<x>',
        'rules[0].regex: expected a regular expression without backreferences, lookarounds ' +
          'or word boundaries (a backreference ("\\k") at 7), got `"(?<x>a)\\\\k<x>"` (string)',
      ],
      [
        'a(?=b)',
        'rules[0].regex: expected a regular expression without backreferences, ' +
          'lookarounds or word boundaries (a lookaround at 1), got `"a(?=b)"` (string)',
      ],
      [
        '(?<!a)b',
        'rules[0].regex: expected a regular expression without backreferences, ' +
          'lookarounds or word boundaries (a lookaround at 0), got `"(?<!a)b"` (string)',
      ],
      [
        '\\bword',
        'rules[0].regex: expected a regular expression without backreferences, lookarounds ' +
          'or word boundaries (a word boundary ("\\b") at 0), got `"\\\\bword"` (string)',
      ],
      [
        'a{',
        'rules[0].regex: expected a regular expression without backreferences, lookarounds ' +
          'or word boundaries (a literal "{" at 1 (escape it: "\\{")), got `"a{"` (string)',
      ],
      [
        'a{1001}',
        'rules[0].regex: expected a regular expression without backreferences, lookarounds ' +
          'or word boundaries (a repeat count above 1000 at 1), got `"a{1001}"` (string)',
      ],
      [
        '(ab{500}){3}',
        `rules[0].regex: expected a regular expression of at most ${MAX_REGEX_STATES} automaton ` +
          `states (a repeat counts its body once per copy), got \`"(ab{500}){3}"\` (string)`,
      ],
    ];
    for (const [source, message] of cases) {
      assert.throws(
        () => new TrafficSplit(regexRule(source)),
        { name: 'TrafficSplitTypeError', code: 'ERR_SPLIT_INVALID_CONFIG', message },
        source,
      );
    }
    assert.throws(() => new TrafficSplit(regexRule('(')), {
      message:
        /^rules\[0\]\.regex: expected a valid regular expression \(Invalid regular expression: \/\(\/: Unterminated group\)/,
    });
  });

  it('answers a real call carrying an adversarial header through a split with ^(a+)+$', async (t) => {
    const { client } = await rig(
      t,
      { v1: 1, v2: 0 },
      { rules: [{ header: 'x-tenant', regex: '^(a+)+$', subset: 'v2' }] },
    );
    const call = (value: string) => {
      const metadata = new grpc.Metadata();
      metadata.set('x-tenant', value);
      return callEcho(client, {}, metadata, { deadline: Date.now() + 30_000 });
    };
    // 30 bytes take a backtracking engine about 20 s; 4,000 bytes would never finish.
    assert.equal((await call(`${'a'.repeat(29)}!`)).server, 'v1');
    assert.equal((await call(`${'a'.repeat(3_999)}!`)).server, 'v1');
    assert.equal((await call('a'.repeat(30))).server, 'v2');
  });
});

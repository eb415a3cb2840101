/**
 * Rules that match the method, combine matches, test a header's presence and invert: the
 * grammar's validation, its JSON, and what a call matches (unit and property tests).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConfig, TrafficSplit, type RouteRuleJson } from '../src/index.js';
import { MAX_REGEX_VALUE_LENGTH, parseRules } from '../src/algorithms/routing/rules.js';
import { METHOD_MEMO_SIZE, remembered } from '../src/algorithms/routing/rule-matches.js';

const SUBSETS = ['v1', 'v2'];
const subsets = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' };

type Headers = ReadonlyMap<string, readonly string[]>;
const valuesOf = (headers: Headers, key: string) => headers.get(key);
const headersOf = (entries: Record<string, string | string[]> = {}): Headers =>
  new Map(Object.entries(entries).map(([key, value]) => [key, typeof value === 'string' ? [value] : value]));

/** Whether `rule` holds for a call of `method` with `headers`. */
function holds(rule: Omit<RouteRuleJson, 'subset'>, method: string, headers: Record<string, string | string[]> = {}) {
  const [parsed] = parseRules([{ ...rule, subset: 'v2' }], SUBSETS);
  return parsed!.test(headersOf(headers), method, valuesOf);
}

const READ = '/shop.Store/Read';
const ECHO = '/test.Echo/Echo';

describe('rules: method matches', () => {
  it('match the method exactly, by service prefix and by regex', () => {
    assert.equal(holds({ method: { equals: READ } }, READ), true);
    assert.equal(holds({ method: { equals: READ } }, '/shop.Store/ReadMore'), false);
    assert.equal(holds({ method: { prefix: '/shop.Store/' } }, READ), true);
    assert.equal(holds({ method: { prefix: '/shop.Store/' } }, '/shop.StoreAdmin/Read'), false);
    assert.equal(holds({ method: { prefix: '/shop.Store/' } }, ECHO), false);
    assert.equal(holds({ method: { regex: '^/shop\\.Store/(Read|List)$' } }, READ), true);
    assert.equal(holds({ method: { regex: '^/shop\\.Store/(Read|List)$' } }, '/shop.Store/Write'), false);
  });

  it("never hold on the unknown method '', and their inverse always does", () => {
    for (const method of [{ equals: READ }, { prefix: '/' }, { regex: '' }, { regex: '.*' }, { regex: '^$' }]) {
      assert.equal(holds({ method }, ''), false, JSON.stringify(method));
      assert.equal(holds({ method: { ...method, invert: true } }, ''), true, JSON.stringify(method));
    }
  });

  it('invert: every method the match does not hold for', () => {
    const notShop = { method: { prefix: '/shop.Store/', invert: true } };
    assert.equal(holds(notShop, READ), false);
    assert.equal(holds(notShop, ECHO), true);
  });

  it('compare method names with odd characters literally', () => {
    const odd = ['/shop.Store/Réad', '/shop.Store/Read%2F..', '/shop.Store/Re ad', '/shop.Store/Read\n', '/x/y/z'];
    for (const method of odd) {
      assert.equal(holds({ method: { prefix: '/shop.Store/' } }, method), method.startsWith('/shop.Store/'), method);
      assert.equal(holds({ method: { equals: READ } }, method), false, method);
      assert.equal(holds({ method: { regex: '^/shop\\.Store/Read$' } }, method), false, method);
    }
    // `.` is any character, as in JavaScript: escape it to mean a dot.
    assert.equal(holds({ method: { regex: '^/shop.Store/' } }, '/shopXStore/Read'), true);
    assert.equal(holds({ method: { regex: '^/shop\\.Store/' } }, '/shopXStore/Read'), false);
    assert.equal(holds({ method: { equals: '/shop.Store/Réad' } }, '/shop.Store/Réad'), true);
  });

  it('bound a regex to MAX_REGEX_VALUE_LENGTH characters of the method; equals and prefix compare as usual', () => {
    const at = (n: number) => `/shop.Store/${'a'.repeat(n - '/shop.Store/'.length)}`;
    const regex = { method: { regex: '^/shop\\.Store/a+$' } };
    assert.equal(holds(regex, at(MAX_REGEX_VALUE_LENGTH)), true);
    assert.equal(holds(regex, at(MAX_REGEX_VALUE_LENGTH + 1)), false);
    const megabyte = at(1 << 20);
    assert.equal(holds(regex, megabyte), false);
    assert.equal(holds({ ...regex, method: { ...regex.method, invert: true } }, megabyte), true);
    assert.equal(holds({ method: { prefix: '/shop.Store/' } }, megabyte), true);
    assert.equal(holds({ method: { equals: READ } }, megabyte), false);
  });
});

describe('rules: method matches, asked again', () => {
  it('give the same answers from memory, past METHOD_MEMO_SIZE methods and for names too long to keep', () => {
    const [prefix, regex] = parseRules(
      [
        { method: { prefix: '/shop.Store/' }, subset: 'v2' },
        { method: { regex: '^/shop\\.Store/[a-z]+1$', invert: true }, subset: 'v2' },
      ],
      SUBSETS,
    );
    const none = headersOf();
    const methods = Array.from({ length: 3 * METHOD_MEMO_SIZE }, (_, i) =>
      i % 3 === 0 ? `/shop.Store/m${i}` : i % 3 === 1 ? `/other.Store/m${i}` : `/shop.Store/${'x'.repeat(2_000)}${i}`,
    );
    methods.push('/shop.Store/ab1', '');
    for (let round = 0; round < 3; round++) {
      for (const method of methods) {
        assert.equal(prefix!.test(none, method, valuesOf), method.startsWith('/shop.Store/'), method.slice(0, 40));
        assert.equal(
          regex!.test(none, method, valuesOf),
          !/^\/shop\.Store\/[a-z]+1$/.test(method),
          method.slice(0, 40),
        );
      }
    }
  });

  it('remember at most METHOD_MEMO_SIZE names, each of at most MAX_REGEX_VALUE_LENGTH characters', () => {
    let tests = 0;
    const test = remembered((method) => (tests++, method.length % 2 === 0));
    const names = Array.from({ length: METHOD_MEMO_SIZE + 72 }, (_, i) => `/s.S/m${i}`);
    const long = `/s.S/${'m'.repeat(MAX_REGEX_VALUE_LENGTH)}`;
    for (let round = 0; round < 2; round++) for (const name of [long, ...names]) test(name);
    // Round 1 tests all 201; round 2 only the 72 names past the memory's size, and the long one.
    assert.equal(tests, 201 + 72 + 1);
  });
});

describe('rules: header matches', () => {
  const beta = (match: object) => ({ headers: [{ header: 'x-beta', ...match }] });

  it('hold when some value of a multi-valued header matches; inverted, when none does', () => {
    assert.equal(holds(beta({ equals: 'yes' }), '', { 'x-beta': ['no', 'yes'] }), true);
    assert.equal(holds(beta({ equals: 'yes', invert: true }), '', { 'x-beta': ['no', 'yes'] }), false);
    assert.equal(holds(beta({ equals: 'yes', invert: true }), '', { 'x-beta': ['no', 'maybe'] }), true);
    assert.equal(holds(beta({ prefix: 'y' }), '', { 'x-beta': ['no', 'yes'] }), true);
    assert.equal(holds(beta({ regex: '^y' }), '', { 'x-beta': ['no', 'nay'] }), false);
  });

  it('on an absent header: equals, prefix, regex and present do not hold, and their inverses do', () => {
    for (const match of [{ equals: '' }, { prefix: '' }, { regex: '' }, { present: true }]) {
      assert.equal(holds(beta(match), READ, { 'x-other': 'yes' }), false, JSON.stringify(match));
      assert.equal(holds(beta({ ...match, invert: true }), READ, { 'x-other': 'yes' }), true, JSON.stringify(match));
    }
  });

  it('present: the header is sent, with any value, the empty one included', () => {
    assert.equal(holds(beta({ present: true }), '', { 'x-beta': '' }), true);
    assert.equal(holds(beta({ present: true, invert: true }), '', { 'x-beta': '' }), false);
  });

  it('bound a regex to MAX_REGEX_VALUE_LENGTH characters of each value', () => {
    const megabyte = 'y'.repeat(1 << 20);
    assert.equal(holds(beta({ regex: '^y+$' }), '', { 'x-beta': megabyte }), false);
    assert.equal(holds(beta({ regex: '^y+$' }), '', { 'x-beta': [megabyte, 'yy'] }), true);
    assert.equal(holds(beta({ prefix: 'yyy' }), '', { 'x-beta': megabyte }), true);
    assert.equal(holds(beta({ equals: megabyte }), '', { 'x-beta': megabyte }), true);
  });
});

describe('rules: combined matches', () => {
  const betaShop = { method: { prefix: '/shop.Store/' }, headers: [{ header: 'x-beta', equals: 'yes' }] };

  it('hold only when every match holds: method and headers', () => {
    assert.equal(holds(betaShop, READ, { 'x-beta': 'yes' }), true);
    assert.equal(holds(betaShop, READ, { 'x-beta': 'no' }), false);
    assert.equal(holds(betaShop, READ), false);
    assert.equal(holds(betaShop, ECHO, { 'x-beta': 'yes' }), false);
    assert.equal(holds(betaShop, '', { 'x-beta': 'yes' }), false);
  });

  it('combine the single-header form with a method and further headers', () => {
    const rule = {
      method: { equals: READ },
      header: 'x-tenant',
      prefix: 'beta-',
      headers: [{ header: 'x-debug', present: true as const, invert: true }],
    };
    assert.equal(holds(rule, READ, { 'x-tenant': 'beta-7' }), true);
    assert.equal(holds(rule, READ, { 'x-tenant': 'beta-7', 'x-debug': '1' }), false);
    assert.equal(holds(rule, READ, { 'x-tenant': 'prod-7' }), false);
    assert.equal(holds(rule, ECHO, { 'x-tenant': 'beta-7' }), false);
  });

  it('keep the single-header form exactly: its JSON, its matching', () => {
    const [rule] = parseRules([{ header: 'x-canary', equals: 'always', subset: 'v2' }], SUBSETS);
    assert.deepEqual(rule!.json, { header: 'x-canary', equals: 'always', subset: 'v2' });
    assert.equal(rule!.subset, 1);
    assert.equal(rule!.test(headersOf({ 'x-canary': 'always' }), '', valuesOf), true);
    assert.equal(rule!.test(headersOf({ 'x-canary': 'always' }), READ, valuesOf), true);
    assert.equal(rule!.test(headersOf({ 'x-canary': 'never' }), READ, valuesOf), false);
  });
});

describe('rules: JSON', () => {
  it('round-trips every form through parseConfig, dropping only invert: false', () => {
    const rules: RouteRuleJson[] = [
      { header: 'x-canary', equals: 'always', subset: 'v2' },
      { method: { equals: READ }, subset: 'v2' },
      { method: { prefix: '/shop.Store/', invert: true }, header: 'x-tenant', regex: '^b', subset: 'v1' },
      {
        method: { regex: '^/shop\\.', invert: false },
        headers: [
          { header: 'x-beta', equals: 'yes' },
          { header: 'x-debug', present: true, invert: true },
          { header: 'x-tenant', prefix: 'eu-', invert: false },
        ],
        subset: 'v2',
      },
    ];
    const config = { subsets, weights: { v1: 1, v2: 0 }, rules };
    const canonical = [
      rules[0],
      rules[1],
      rules[2],
      {
        method: { regex: '^/shop\\.' },
        headers: [
          { header: 'x-beta', equals: 'yes' },
          { header: 'x-debug', present: true, invert: true },
          { header: 'x-tenant', prefix: 'eu-' },
        ],
        subset: 'v2',
      },
    ];
    const once = parseConfig(config);
    assert.deepEqual(once.rules, canonical);
    assert.deepEqual(parseConfig(once).rules, canonical);
    assert.deepEqual(
      parseRules(canonical, SUBSETS).map((rule) => rule.json),
      canonical,
    );
  });
});

describe('rules: validation', () => {
  const refused = (rules: unknown[], message: string) => {
    assert.throws(
      () => new TrafficSplit({ subsets, weights: { v1: 1, v2: 0 }, rules: rules as RouteRuleJson[] }),
      { name: 'TrafficSplitTypeError', code: 'ERR_SPLIT_INVALID_CONFIG', message },
      message,
    );
    // Service-config JSON goes through the same checks, its messages prefixed with the policy's name.
    assert.throws(() => parseConfig({ subsets, weights: { v1: 1, v2: 0 }, rules }), {
      message: `traffic_split: ${message}`,
    });
  };
  const ok = { header: 'x-canary', equals: 'always', subset: 'v2' };

  it('names the rule and the field of a bad method match', () => {
    refused(
      [ok, { method: { equals: 'shop.Store/Read' }, subset: 'v2' }],
      'rules[1].method.equals: expected a full method name such as "/shop.Store/Read", got `"shop.Store/Read"` (string)',
    );
    refused(
      [{ method: { equals: '/shop.Store/' }, subset: 'v2' }],
      'rules[0].method.equals: expected a full method name such as "/shop.Store/Read", got `"/shop.Store/"` (string)',
    );
    refused(
      [{ method: { equals: '/shop.Store/Read/x' }, subset: 'v2' }],
      'rules[0].method.equals: expected a full method name such as "/shop.Store/Read", ' +
        'got `"/shop.Store/Read/x"` (string)',
    );
    refused(
      [{ method: { equals: '/shop.Store/Re ad' }, subset: 'v2' }],
      'rules[0].method.equals: expected a full method name such as "/shop.Store/Read", ' +
        'got `"/shop.Store/Re ad"` (string)',
    );
    refused(
      [{ method: { prefix: 'shop.Store/' }, subset: 'v2' }],
      'rules[0].method.prefix: expected a method name prefix starting with "/", such as "/shop.Store/", ' +
        'got `"shop.Store/"` (string)',
    );
    refused(
      [{ method: { prefix: 7 }, subset: 'v2' }],
      'rules[0].method.prefix: expected a method name prefix starting with "/", such as "/shop.Store/", ' +
        'got `7` (number)',
    );
    refused([{ method: { regex: 7 }, subset: 'v2' }], 'rules[0].method.regex: expected a string, got `7` (number)');
    refused(
      [{ method: { equals: READ, prefix: '/shop.Store/' }, subset: 'v2' }],
      'rules[0].method: expected exactly one of equals, prefix, regex, got equals and prefix',
    );
    refused(
      [{ method: {}, subset: 'v2' }],
      'rules[0].method: expected exactly one of equals, prefix, regex, got none',
    );
    refused(
      [{ method: { invert: true }, subset: 'v2' }],
      'rules[0].method: expected exactly one of equals, prefix, regex, got none',
    );
    refused(
      [{ method: READ, subset: 'v2' }],
      'rules[0].method: expected a method match such as {"prefix": "/shop.Store/"}, got `"/shop.Store/Read"` (string)',
    );
    refused(
      [{ method: { prefix: '/', invert: 'yes' }, subset: 'v2' }],
      'rules[0].method.invert: expected a boolean, got `"yes"` (string)',
    );
    refused(
      [{ method: { prefix: '/', service: 'shop.Store' }, subset: 'v2' }],
      'rules[0].method.service: unknown option (known: equals, prefix, regex, invert), got `"shop.Store"` (string)',
    );
    refused(
      [{ method: { regex: '^(a)\\1$' }, subset: 'v2' }],
      'rules[0].method.regex: expected a regular expression without backreferences, lookarounds ' +
        'or word boundaries (a backreference ("\\1") at 4), got `"^(a)\\\\1$"` (string)',
    );
  });

  it('names the rule, the match and the field of a bad header match', () => {
    refused(
      [
        ok,
        ok,
        {
          headers: [
            { header: 'x-beta', equals: 'yes' },
            { header: 'x-debug', equals: 1 },
          ],
          subset: 'v2',
        },
      ],
      'rules[2].headers[1].equals: expected a string, got `1` (number)',
    );
    refused(
      [{ headers: [], subset: 'v2' }],
      'rules[0].headers: expected a non-empty list of header matches such as ' +
        '[{"header": "x-beta", "equals": "yes"}], got `[]` (array)',
    );
    refused(
      [{ headers: { header: 'x-beta', equals: 'yes' }, subset: 'v2' }],
      'rules[0].headers: expected a non-empty list of header matches such as ' +
        '[{"header": "x-beta", "equals": "yes"}], got `{"header":"x-beta","equals":"yes"}` (object)',
    );
    refused(
      [{ headers: ['x-beta'], subset: 'v2' }],
      'rules[0].headers[0]: expected a header match such as {"header": "x-beta", "equals": "yes"}, ' +
        'got `"x-beta"` (string)',
    );
    refused(
      [{ headers: [{ equals: 'yes' }], subset: 'v2' }],
      'rules[0].headers[0].header: expected a lower-case metadata key such as "x-user-id" ' +
        '(not "grpc-*", not "-bin"), got undefined',
    );
    refused(
      [{ headers: [{ header: 'X-Beta', equals: 'yes' }], subset: 'v2' }],
      'rules[0].headers[0].header: expected a lower-case metadata key such as "x-user-id" ' +
        '(not "grpc-*", not "-bin"), got `"X-Beta"` (string)',
    );
    refused(
      [{ headers: [{ header: 'x-beta' }], subset: 'v2' }],
      'rules[0].headers[0]: expected exactly one of equals, prefix, regex, present, got none',
    );
    refused(
      [{ headers: [{ header: 'x-beta', equals: 'yes', present: true }], subset: 'v2' }],
      'rules[0].headers[0]: expected exactly one of equals, prefix, regex, present, got equals and present',
    );
    refused(
      [{ headers: [{ header: 'x-beta', present: false }], subset: 'v2' }],
      'rules[0].headers[0].present: expected true (for an absent header, add "invert": true), got `false` (boolean)',
    );
    refused(
      [{ headers: [{ header: 'x-beta', present: true, invert: 1 }], subset: 'v2' }],
      'rules[0].headers[0].invert: expected a boolean, got `1` (number)',
    );
    refused(
      [{ headers: [{ header: 'x-beta', present: true, not: true }], subset: 'v2' }],
      'rules[0].headers[0].not: unknown option (known: header, equals, prefix, regex, present, invert), ' +
        'got `true` (boolean)',
    );
  });

  it("refuses a rule without a match, unknown keys, and keeps the single-header form's messages", () => {
    refused([ok, { subset: 'v2' }], 'rules[1]: expected at least one match (method, headers, or header), got none');
    refused(
      [{ header: 'x-canary', equals: 'a', invert: true, subset: 'v2' }],
      'rules[0].invert: unknown option (known: method, headers, header, equals, prefix, regex, subset), ' +
        'got `true` (boolean)',
    );
    refused(
      [{ method: { prefix: '/' }, header: 'x-canary', subset: 'v2' }],
      'rules[0]: expected exactly one of equals, prefix, regex, got none',
    );
    refused(
      [{ method: { prefix: '/' }, equals: 'a', subset: 'v2' }],
      'rules[0].header: expected a lower-case metadata key such as "x-user-id" (not "grpc-*", not "-bin"), ' +
        'got undefined',
    );
    refused(
      [{ header: 'x-canary', equals: 'a', prefix: 'b', subset: 'v2' }],
      'rules[0]: expected exactly one of equals, prefix, regex, got equals and prefix',
    );
    refused(
      [{ method: { prefix: '/' }, subset: 'v3' }],
      'rules[0].subset: expected one of the subsets v1, v2, got `"v3"` (string)',
    );
  });

  it('refuses a 1 MB pattern at construction, with a typed error', () => {
    for (const [pattern, expectation] of [
      ['a'.repeat(1 << 20), 'a regular expression of at most 256 automaton states'],
      ['(?:)'.repeat(1 << 18) + 'a{1001}', 'a regular expression without backreferences'],
    ] as const) {
      assert.throws(
        () => parseRules([{ method: { regex: pattern }, subset: 'v2' }], SUBSETS),
        (error: Error) =>
          error.name === 'TrafficSplitTypeError' &&
          error.message.startsWith(`rules[0].method.regex: expected ${expectation}`),
      );
    }
  });
});

// ---- properties --------------------------------------------------------------------------------

const KEYS = ['x-a', 'x-b'] as const;
const letters = fc.stringMatching(/^[ab]{0,3}$/);
const headersArb = fc.record(
  {
    'x-a': fc.array(letters, { minLength: 1, maxLength: 3 }),
    'x-b': fc.array(letters, { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: [] },
);
const methodArb = fc.oneof(
  fc.constant(''),
  fc.constantFrom('/s.A/a', '/s.A/b', '/s.B/a', '/t.A/ab'),
  fc.stringMatching(/^\/[stAB.]{1,3}\/[ab]{1,2}$/),
);
type Kind = 'equals' | 'prefix' | 'regex' | 'present';
const methodMatchArb = fc.record({
  kind: fc.constantFrom<Kind>('equals', 'prefix', 'regex'),
  value: fc.constantFrom('/s.A/a', '/s.A/', '/s.', '/', '^/s\\.A/', 'a$', '^$', ''),
  invert: fc.boolean(),
});
const headerMatchArb = fc.record({
  header: fc.constantFrom(...KEYS),
  kind: fc.constantFrom<Kind>('equals', 'prefix', 'regex', 'present'),
  value: fc.constantFrom('', 'a', 'ab', 'b', '^a', 'b$', '^$'),
  invert: fc.boolean(),
});
type MethodMatch = { kind: Kind; value: string; invert: boolean };
type HeaderMatch = MethodMatch & { header: string };

/** The method matches the generator's values are valid for: equals needs a full name. */
function methodJson(m: MethodMatch) {
  if (m.kind === 'equals' && !/^\/[^/\s]+\/[^/\s]+$/.test(m.value)) return null;
  if (m.kind === 'prefix' && !m.value.startsWith('/')) return null;
  return { [m.kind]: m.value, ...(m.invert ? { invert: true } : {}) };
}
function headerJson(m: HeaderMatch) {
  return { header: m.header, [m.kind]: m.kind === 'present' ? true : m.value, ...(m.invert ? { invert: true } : {}) };
}

/** The specification, written apart from the implementation: native RegExp, Array.some. */
function valueHolds(kind: Kind, value: string, v: string): boolean {
  if (kind === 'equals') return v === value;
  if (kind === 'prefix') return v.startsWith(value);
  if (kind === 'regex') return new RegExp(value).test(v);
  return true;
}
function specMethod(m: MethodMatch, method: string): boolean {
  return (method !== '' && valueHolds(m.kind, m.value, method)) !== m.invert;
}
function specHeader(m: HeaderMatch, headers: Record<string, string[]>): boolean {
  return (headers[m.header] ?? []).some((v) => valueHolds(m.kind, m.value, v)) !== m.invert;
}

describe('rules: properties', () => {
  it('each match holds as specified, its inverse exactly when it does not, and a rule is the AND of its matches', () => {
    fc.assert(
      fc.property(
        fc.option(methodMatchArb, { nil: undefined }),
        fc.array(headerMatchArb, { maxLength: 3 }),
        headersArb,
        methodArb,
        (methodMatch, headerMatches, headers, method) => {
          const method_ = methodMatch === undefined ? undefined : methodJson(methodMatch);
          fc.pre(method_ !== null && (method_ !== undefined || headerMatches.length > 0));
          const rule = {
            ...(methodMatch === undefined ? {} : { method: method_ }),
            ...(headerMatches.length === 0 ? {} : { headers: headerMatches.map(headerJson) }),
          } as Omit<RouteRuleJson, 'subset'>;
          const expected =
            (methodMatch === undefined || specMethod(methodMatch, method)) &&
            headerMatches.every((m) => specHeader(m, headers));
          assert.equal(holds(rule, method, headers), expected);
          // Each match alone, and inverted: exactly one of the two holds.
          if (methodMatch !== undefined) {
            const alone = holds({ method: method_! }, method);
            const inverted = holds({ method: { ...method_!, invert: !methodMatch.invert } }, method);
            assert.equal(alone, specMethod(methodMatch, method));
            assert.notEqual(alone, inverted);
          }
          for (const m of headerMatches) {
            const alone = holds({ headers: [headerJson(m)] }, method, headers);
            const inverted = holds({ headers: [headerJson({ ...m, invert: !m.invert })] }, method, headers);
            assert.equal(alone, specHeader(m, headers));
            assert.notEqual(alone, inverted);
          }
        },
      ),
      { numRuns: 2_000, seed: 22 },
    );
  });
});

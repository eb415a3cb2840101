/**
 * Issues 22 and 23 attacked a second time, with inputs a unit test gives on demand: windows of
 * tens of millions of calls for the fixed judge, and method-weight sets that are not plain objects.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TrafficSplit } from '../src/index.js';
import { judgeCanary, type CanaryWindow } from '../src/ops/index.js';
import { fisherExactGreater } from '../src/algorithms/stats-tests.js';

/** How many times `run` calls Math.exp: the terms a p-value sums, whatever the machine's speed. */
function expCalls(run: () => void): number {
  const exp = Math.exp;
  let calls = 0;
  Math.exp = (x: number) => (calls++, exp(x));
  try {
    run();
  } finally {
    Math.exp = exp;
  }
  return calls;
}

/** P(X >= k) summed over every term, by the definition: the reference for small tables. */
function fisherByDefinition(k: number, n1: number, f2: number, n2: number): number {
  const logFactorial = (n: number) => {
    let sum = 0;
    for (let i = 2; i <= n; i++) sum += Math.log(i);
    return sum;
  };
  const logChoose = (n: number, r: number) => logFactorial(n) - logFactorial(r) - logFactorial(n - r);
  const failures = k + f2;
  const total = n1 + n2;
  let p = 0;
  for (let x = k; x <= Math.min(failures, n1); x++) {
    if (n1 - x > total - failures) continue;
    p += Math.exp(logChoose(failures, x) + logChoose(total - failures, n1 - x) - logChoose(total, n1));
  }
  return Math.min(1, p);
}

const window = (calls: number, failed: number): CanaryWindow => ({
  finished: calls,
  codes: { OK: calls - failed, ...(failed > 0 && { UNAVAILABLE: failed }) },
  latencyHistogram: [[10, calls]],
});

describe('the fixed judge on windows of millions of calls', () => {
  it('judges a canary that fixes a baseline failing half its calls from a few thousand terms', () => {
    // 10 million calls a side (a busy fleet's hour): the baseline fails 5 million, the canary 1.
    let verdict: ReturnType<typeof judgeCanary> | undefined;
    const terms = expCalls(() => {
      verdict = judgeCanary(window(1e7, 1), window(1e7, 5e6), { names: ['v2', 'v1'] });
    });
    assert.equal(verdict!.verdict, 'pass', verdict!.reason);
    assert.equal(verdict!.errors.pValue, 1);
    // A walk from 1 failure up to the mode (2.5 million) would take one term per count.
    assert.ok(terms < 100_000, `${terms} terms`);
  });

  it('and the same when the windows are stratified by method', () => {
    const methods = (failed: number) => ({
      '/shop.Store/Read': window(5e6, failed),
      '/shop.Store/Write': window(5e6, failed),
    });
    let verdict: ReturnType<typeof judgeCanary> | undefined;
    const terms = expCalls(() => {
      verdict = judgeCanary(
        { ...window(1e7, 2), methods: methods(1) },
        { ...window(1e7, 5e6), methods: methods(2.5e6) },
      );
    });
    assert.equal(verdict!.verdict, 'pass', verdict!.reason);
    assert.ok(terms < 200_000, `${terms} terms`);
  });

  it('still fails a canary 1% worse at that size, from as few terms', () => {
    let verdict: ReturnType<typeof judgeCanary> | undefined;
    const terms = expCalls(() => {
      verdict = judgeCanary(window(1e7, 5.1e6), window(1e7, 5e6), { names: ['v2', 'v1'] });
    });
    assert.equal(verdict!.verdict, 'fail', verdict!.reason);
    assert.ok(verdict!.errors.pValue < 1e-300, `${verdict!.errors.pValue}`);
    assert.ok(terms < 100_000, `${terms} terms`);
  });

  it('gives the p-value of the definition on small tables, on either side of the mode', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n1, n2, r1, r2) => {
          const k = Math.round(r1 * n1);
          const f2 = Math.round(r2 * n2);
          const expected = k === 0 ? 1 : fisherByDefinition(k, n1, f2, n2);
          const got = fisherExactGreater(k, n1, f2, n2).pValue;
          assert.ok(Math.abs(got - expected) <= 1e-12, `${k}/${n1} vs ${f2}/${n2}: ${got}, expected ${expected}`);
        },
      ),
      { numRuns: 2_000, seed: 8 },
    );
  });
});

describe('method weights that are not a plain object', () => {
  const READ = '/shop.Store/Read';
  const WRITE = '/shop.Store/Write';

  it('refuses a Map, a Date and a class instance, naming the field, and keeps every override', () => {
    const split = new TrafficSplit({
      subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' },
      weights: { v1: 50, v2: 50 },
      methodWeights: { [WRITE]: { v1: 100, v2: 0 } },
      name: 'not-plain',
    });
    try {
      const map = new Map([[READ, { v1: 0, v2: 100 }]]);
      class Overrides {}
      for (const value of [map, new Date(0), new Overrides()]) {
        assert.throws(() => split.setMethodWeights(value as never), {
          name: 'TrafficSplitTypeError',
          message:
            /^methods: expected an object mapping .* \(a plain object, not \[object (Map|Date|Object)\]\), got /,
        });
        assert.throws(() => split.setWeights({ v1: 10, v2: 90 }, { methods: value as never }), {
          name: 'TrafficSplitTypeError',
          message: /^options\.methods: expected an object mapping .* \(a plain object, not \[object \w+\]\)/,
        });
        assert.deepEqual(split.getMethodWeights(), { [WRITE]: { v1: 100, v2: 0 } });
        assert.deepEqual(split.getWeights(), { v1: 50, v2: 50 });
      }
      assert.throws(
        () =>
          new TrafficSplit({
            subsets: { v1: 'ipv4:127.0.0.1:1' },
            weights: { v1: 1 },
            methodWeights: new Map() as never,
          }),
        /^TrafficSplitTypeError: methodWeights: expected an object .* \(a plain object, not \[object Map\]\)/,
      );
      // Objects without a prototype are plain (a parsed file's, Object.create(null)).
      split.setMethodWeights(Object.assign(Object.create(null), { [READ]: { v1: 0, v2: 100 } }));
      assert.deepEqual(split.getMethodWeights(), { [READ]: { v1: 0, v2: 100 } });
    } finally {
      split.close();
    }
  });
});

describe('judgeCanary() on figures it cannot read', () => {
  const good = window(1_000, 0);
  const broken: [string, unknown, RegExp][] = [
    ['NaN calls', { ...window(100, 100), finished: NaN }, /^unreadable figures: canary\.finished: .* got `NaN`/],
    [
      'negative calls',
      { ...window(100, 100), finished: -100 },
      /^unreadable figures: canary\.finished: .* got `-100`/,
    ],
    [
      'a negative count of failures',
      { ...window(100, 0), codes: { OK: 200, INTERNAL: -100 } },
      /^unreadable figures: canary\.codes\.INTERNAL: expected a count, got `-100`/,
    ],
    [
      'more failures than calls',
      { ...window(10, 0), codes: { INTERNAL: 100 } },
      /^unreadable figures: canary\.codes: 100 calls by code, more than the 10 finished$/,
    ],
    ['no codes', { finished: 100, latencyHistogram: [] }, /^unreadable figures: canary\.codes: .* got undefined/],
    ['null', null, /^unreadable figures: canary: expected figures, got `null`/],
    [
      'a NaN latency',
      { ...window(100, 0), latencyHistogram: [[NaN, 100]] },
      /^unreadable figures: canary\.latencyHistogram: .* got `\[null,100\]`/,
    ],
    [
      'a method of NaN calls',
      {
        ...window(100, 100),
        methods: { '/shop.Store/Read': { ...window(50, 50), finished: NaN }, '/shop.Store/List': window(50, 50) },
      },
      /^unreadable figures: canary\.methods\["\/shop\.Store\/Read"\]\.finished: .* got `NaN`/,
    ],
  ];
  for (const [name, canary, reason] of broken) {
    it(`fails a canary given ${name}, naming the field, without throwing`, () => {
      const verdict = judgeCanary(canary as CanaryWindow, good, { names: ['v2', 'v1'] });
      assert.equal(verdict.verdict, 'fail', verdict.reason);
      assert.match(verdict.reason, reason);
    });
  }

  it('names the baseline when its figures are the unreadable ones', () => {
    const verdict = judgeCanary(good, { ...good, finished: Infinity });
    assert.equal(verdict.verdict, 'fail');
    assert.match(verdict.reason, /^unreadable figures: baseline\.finished: .* got `Infinity`/);
  });
});

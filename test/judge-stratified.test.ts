/**
 * The fixed stratified tests (src/algorithms/judge): Cochran-Mantel-Haenszel on a textbook
 * table, Holm's adjustment, van Elteren against a brute-force permutation distribution, and the
 * stratified verdicts naming the stratum that fails and ignoring a different mix of strata.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  cochranMantelHaenszelGreater,
  holmAdjust,
  judgeStratifiedErrors,
  type ErrorStratum,
} from '../src/algorithms/judge/stratified-errors.js';
import {
  judgeStratifiedLatency,
  vanElterenGreater,
  type LatencyStratum,
} from '../src/algorithms/judge/stratified-latency.js';
import { fisherExactGreater, mannWhitneyGreater, type Histogram } from '../src/algorithms/stats-tests.js';

function close(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected}`);
}

/** A histogram of plain values, one entry per distinct value. */
function histogram(values: readonly number[]): Histogram {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts];
}

describe('Cochran-Mantel-Haenszel', () => {
  // Penicillin and rabbits (Agresti, Categorical Data Analysis, 1990), the example of R's
  // mantelhaen.test: cured (as "failures") with immediate injection (as "canary") or 1.5 h
  // later, in 5 strata of penicillin level. R gives X² = 3.9286 with continuity correction,
  // two-sided p = 0.04747. By hand: Σa = 16, ΣE = 13, ΣVar = 0.6136 + 0.7273 + 0.25 = 1.5909.
  const rabbits: ErrorStratum[] = [
    { stratum: '1/8', canaryFailures: 0, canaryCalls: 6, baselineFailures: 0, baselineCalls: 5 },
    { stratum: '1/4', canaryFailures: 3, canaryCalls: 6, baselineFailures: 0, baselineCalls: 6 },
    { stratum: '1/2', canaryFailures: 6, canaryCalls: 6, baselineFailures: 2, baselineCalls: 6 },
    { stratum: '1', canaryFailures: 5, canaryCalls: 6, baselineFailures: 6, baselineCalls: 6 },
    { stratum: '4', canaryFailures: 2, canaryCalls: 2, baselineFailures: 5, baselineCalls: 5 },
  ];

  it('gives the textbook statistic and p-value on the rabbits table', () => {
    const result = cochranMantelHaenszelGreater(rabbits);
    close(result.z ** 2, 3.9286, 5e-5, 'X²');
    close(result.z, 2.5 / Math.sqrt((972 + 1152 + 396) / 1584), 1e-12, 'z');
    close(2 * result.pValue, 0.04747, 5e-6, 'two-sided p');
    // MH odds ratio (Σ ad/N) / (Σ bc/N) = (18/12 + 24/12) / (6/12) = 7.
    close(result.oddsRatio, 7, 1e-12, 'odds ratio');
    // MH risk difference, weights n1·n0/N: (3·0.5 + 3·(2/3) - 3·(1/6)) / (30/11 + 9 + 10/7).
    close(result.riskDifference, 3 / (30 / 11 + 9 + 10 / 7), 1e-12, 'risk difference');
  });

  it('equals the pooled test with one stratum up to the hypergeometric variance', () => {
    const one = cochranMantelHaenszelGreater([rabbits[2]!]);
    // a = 6, E = 6·8/12 = 4, Var = 6·6·8·4 / (144·11).
    close(one.z, 1.5 / Math.sqrt(1152 / 1584), 1e-12, 'z');
    assert.deepEqual(cochranMantelHaenszelGreater([]), { z: 0, pValue: 1, riskDifference: 0, oddsRatio: NaN });
  });

  it('gives a smaller p-value when a failure moves from the baseline to the canary (margins kept)', () => {
    const stratum = fc.record({
      stratum: fc.constant('s'),
      canaryCalls: fc.integer({ min: 1, max: 60 }),
      baselineCalls: fc.integer({ min: 1, max: 60 }),
      canaryFailures: fc.nat(),
      baselineFailures: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(stratum, { minLength: 1, maxLength: 5 }), fc.nat(), (raw, which) => {
        const strata = raw.map((s) => ({
          ...s,
          canaryFailures: s.canaryFailures % (s.canaryCalls + 1),
          baselineFailures: s.baselineFailures % (s.baselineCalls + 1),
        }));
        const k = which % strata.length;
        fc.pre(strata[k]!.canaryFailures < strata[k]!.canaryCalls && strata[k]!.baselineFailures > 0);
        const worse = strata.map((s, i) =>
          i === k ? { ...s, canaryFailures: s.canaryFailures + 1, baselineFailures: s.baselineFailures - 1 } : s,
        );
        const [before, after] = [cochranMantelHaenszelGreater(strata), cochranMantelHaenszelGreater(worse)];
        assert.ok(after.z > before.z && after.pValue <= before.pValue);
        assert.ok(after.riskDifference > before.riskDifference);
      }),
      { numRuns: 300, seed: 17 },
    );
  });
});

describe("Holm's adjustment", () => {
  it('matches the step-down values (R: p.adjust(c(.01, .04, .03, .005), "holm"))', () => {
    const adjusted = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    [0.03, 0.06, 0.06, 0.02].forEach((expected, i) => close(adjusted[i]!, expected, 1e-15, `p${i}`));
    assert.deepEqual(holmAdjust([0.5, 0.9]), [1, 1]);
  });

  it('never lowers a p-value and keeps their order', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }), (pValues) => {
        const adjusted = holmAdjust(pValues);
        pValues.forEach((p, i) => {
          assert.ok(adjusted[i]! >= p && adjusted[i]! <= 1);
          pValues.forEach((q, j) => assert.ok(p >= q ? adjusted[i]! >= adjusted[j]! : true));
        });
      }),
      { numRuns: 200, seed: 3 },
    );
  });
});

describe('stratified error verdict', () => {
  const table = (stratum: string, cf: number, cc: number, bf: number, bc: number): ErrorStratum => ({
    stratum,
    canaryFailures: cf,
    canaryCalls: cc,
    baselineFailures: bf,
    baselineCalls: bc,
  });

  it('names the one rarely called method that fails, which the pooled counts hide', () => {
    // List: 5% of calls, 20% failures on the canary. Pooled: 1.2% vs 0.2%, under the 2% margin.
    const strata = [
      table('/shop.Store/Read', 10, 4750, 10, 4750),
      table('/shop.Store/Write', 9, 4750, 10, 4750),
      table('/shop.Store/List', 100, 500, 1, 500),
    ];
    const result = judgeStratifiedErrors(strata, { alpha: 0.01, maxIncrease: 0.02 });
    assert.deepEqual(result.failing, ['/shop.Store/List']);
    assert.equal(result.tests[0]!.stratum, null);
    assert.equal(result.tests[0]!.failed, false);
    close(result.tests[3]!.effect, 0.198, 1e-12, 'List increase');
    // Holm: List has the smallest of the 4 p-values, so its adjusted p-value is 4 times its own.
    assert.ok(result.tests.every((test) => test.pValue >= result.tests[3]!.pValue));
    assert.equal(result.tests[3]!.adjustedPValue, 4 * result.tests[3]!.pValue);
    const pooledIncrease = 119 / 10_000 - 21 / 10_000;
    assert.ok(pooledIncrease < 0.02);
  });

  it('passes equal versions whose mixes of a failing method differ, where the pooled Fisher test alarms', () => {
    // List fails 5% on both; it is 60% of the canary's calls and 30% of the baseline's.
    const strata = [table('/shop.Store/List', 300, 6000, 150, 3000), table('/shop.Store/Read', 0, 4000, 0, 7000)];
    const result = judgeStratifiedErrors(strata, { alpha: 0.01, maxIncrease: 0.005 });
    assert.equal(result.failed, false);
    close(result.tests[0]!.effect, 0, 1e-12, 'MH risk difference');
    const pooled = fisherExactGreater(300, 10_000, 150, 10_000);
    assert.ok(pooled.pValue < 1e-6 && 300 / 10_000 - 150 / 10_000 > 0.005);
  });
});

describe('van Elteren', () => {
  /** T over every within-stratum relabelling of the canary's values: the exact permutation distribution. */
  function permutationMoments(strata: readonly { canary: number[]; baseline: number[] }[]): [number, number] {
    let outcomes: number[] = [0];
    for (const { canary, baseline } of strata) {
      const values = [...canary, ...baseline];
      const ranks = values.map((v) => {
        const below = values.filter((w) => w < v).length;
        const equal = values.filter((w) => w === v).length;
        return below + (equal + 1) / 2;
      });
      const sums: number[] = [];
      const choose = (from: number, left: number, sum: number): void => {
        if (left === 0) return void sums.push(sum / (values.length + 1));
        for (let i = from; i <= values.length - left; i++) choose(i + 1, left - 1, sum + ranks[i]!);
      };
      choose(0, canary.length, 0);
      outcomes = outcomes.flatMap((t) => sums.map((s) => t + s));
    }
    const mean = outcomes.reduce((a, b) => a + b, 0) / outcomes.length;
    const variance = outcomes.reduce((a, b) => a + (b - mean) ** 2, 0) / outcomes.length;
    return [mean, variance];
  }

  const small = [
    { canary: [1, 3, 7], baseline: [2, 4] },
    { canary: [5, 6], baseline: [4, 6, 6, 9] },
    { canary: [10], baseline: [8, 12] },
  ];
  const strata: LatencyStratum[] = small.map(({ canary, baseline }, i) => ({
    stratum: `s${i}`,
    canary: histogram(canary),
    baseline: histogram(baseline),
  }));

  it("has the permutation distribution's exact mean and tie-corrected variance (brute force)", () => {
    const [mean, variance] = permutationMoments(small);
    const result = vanElterenGreater(strata);
    close(result.expected, mean, 1e-12, 'mean');
    close(result.variance, variance, 1e-12, 'variance');
    // Observed: ranks 1, 3, 5 of 5 in s0 (sum 9) / 6; 2 and 4 (three 6s share 3..5) of 6 in s1 / 7; 2 of 3 in s2 / 4.
    close(result.statistic, 9 / 6 + 6 / 7 + 2 / 4, 1e-12, 'statistic');
    close(result.z, (result.statistic - mean) / Math.sqrt(variance), 1e-12, 'z');
  });

  it('reduces to Mann-Whitney without continuity correction in one stratum', () => {
    const one = [strata[1]!];
    const ve = vanElterenGreater(one);
    const mw = mannWhitneyGreater(one[0]!.canary, one[0]!.baseline);
    const sd = Math.sqrt(ve.variance) * 7;
    close(ve.z - mw.z, 0.5 / sd, 1e-12, 'z difference');
  });

  it('compares with the baseline scaled by a ratio', () => {
    const scaled: LatencyStratum[] = [
      { stratum: 's', canary: histogram([12, 24, 36]), baseline: histogram([10, 20, 30]) },
    ];
    assert.ok(vanElterenGreater(scaled).z > 0);
    assert.equal(vanElterenGreater(scaled, 1.2).z, 0);
  });

  it('gives a smaller p-value when a canary latency grows', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            canary: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 8 }),
            baseline: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 8 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.nat(),
        fc.integer({ min: 1, max: 10 }),
        (raw, which, more) => {
          const k = which % raw.length;
          const as = (list: typeof raw): LatencyStratum[] =>
            list.map((s, i) => ({ stratum: `s${i}`, canary: histogram(s.canary), baseline: histogram(s.baseline) }));
          const slower = raw.map((s, i) =>
            i === k ? { ...s, canary: [s.canary[0]! + more, ...s.canary.slice(1)] } : s,
          );
          assert.ok(vanElterenGreater(as(slower)).statistic >= vanElterenGreater(as(raw)).statistic);
        },
      ),
      { numRuns: 200, seed: 29 },
    );
  });
});

describe('stratified latency verdict', () => {
  /** `n` latencies spread evenly (log-normal quantiles, spread 0.3) around `medianMs`. */
  function spread(n: number, medianMs: number): number[] {
    return Array.from({ length: n }, (_, i) => {
      const u = (i + 0.5) / n;
      // A logistic stand-in for the normal quantile: monotone and symmetric, enough here.
      return Math.round(medianMs * Math.exp(0.3 * 0.55 * Math.log(u / (1 - u))) * 10) / 10;
    });
  }

  it('names the slower method', () => {
    const strata: LatencyStratum[] = [
      { stratum: '/shop.Store/Read', canary: histogram(spread(400, 10)), baseline: histogram(spread(400, 10)) },
      { stratum: '/shop.Store/List', canary: histogram(spread(100, 20)), baseline: histogram(spread(100, 10)) },
    ];
    const result = judgeStratifiedLatency(strata, { alpha: 0.01, maxRatio: 1.2 });
    assert.deepEqual(result.failing, ['/shop.Store/List']);
    close(result.tests[2]!.effect, 2, 0.05, 'List median ratio');
  });

  it('passes equal versions whose mixes of a slow method differ, where the pooled Mann-Whitney alarms', () => {
    // The slow method (5x) is 60% of the canary's calls and 30% of the baseline's.
    const canary = { slow: spread(600, 50), fast: spread(400, 10) };
    const baseline = { slow: spread(300, 50), fast: spread(700, 10) };
    const strata: LatencyStratum[] = [
      { stratum: '/shop.Store/List', canary: histogram(canary.slow), baseline: histogram(baseline.slow) },
      { stratum: '/shop.Store/Read', canary: histogram(canary.fast), baseline: histogram(baseline.fast) },
    ];
    const result = judgeStratifiedLatency(strata, { alpha: 0.01, maxRatio: 1.2 });
    assert.equal(result.failed, false);
    assert.ok(result.tests[0]!.pValue > 0.1, `van Elteren p = ${result.tests[0]!.pValue}`);
    const pooled = mannWhitneyGreater(
      histogram([...canary.slow, ...canary.fast]),
      histogram([...baseline.slow, ...baseline.fast]),
    );
    assert.ok(pooled.pValue < 1e-6, `${pooled.pValue}`);
  });
});

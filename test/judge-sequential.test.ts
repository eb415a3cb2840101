/**
 * The sequential judge (src/algorithms/judge): the betting e-process on known values, the
 * blocks' monotonicity, the false-alarm bound under continuous checking in a seeded
 * simulation, early rollback and promotion, strata (a rare method's regression named; a
 * different mix of methods no false alarm) and stream metrics.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BASELINE, CANARY, LatencyBlocks, RateBlocks, type Side } from '../src/algorithms/judge/blocks.js';
import { MeanBet } from '../src/algorithms/judge/mean-bet.js';
import {
  requestMetrics,
  SequentialJudge,
  streamMetrics,
  type SequentialJudgeOptions,
} from '../src/algorithms/judge/sequential-judge.js';
import { seededRandom, type RandomSource } from '../src/algorithms/random.js';
import { runScenario, type Scenario } from '../benchmarks/judge-simulation.js';

const MARGINS = { maxErrorRateIncrease: 0.005, maxLatencyRatio: 1.2 };

/** A standard normal draw (Box-Muller). */
function normal(random: RandomSource): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

describe('betting e-process (MeanBet)', () => {
  it('bets nothing on the first observation, then the aGRAPA fraction of its estimates', () => {
    const bet = new MeanBet(0, -1, 1, 0.01);
    bet.observe(1);
    assert.equal(bet.logWealth, 0);
    // Prior: one observation at 0 and variance 1. After y = 1: mean 1/2, variance
    // (1 + (1 - 1/2)²) / 2 = 0.625, so λ = 0.5 / (0.625 + 0.25) = 4/7, and y = 1 wins 1 + 4/7.
    bet.observe(1);
    assert.ok(Math.abs(bet.logWealth - Math.log(1 + 4 / 7)) < 1e-15, `${bet.logWealth}`);
    assert.equal(bet.count, 2);
    assert.equal(bet.firedAt, -1);
  });

  it('never bets while every observation sits at the bound, and fires for good once it reaches 1/alpha', () => {
    const still = new MeanBet(0.25, 0, 1, 0.01);
    for (let i = 0; i < 1000; i++) still.observe(0.25);
    assert.equal(still.eValue, 1);
    const bet = new MeanBet(0, -1, 1, 0.01);
    let observations = 0;
    while (!bet.observe(1)) observations++;
    // Each win is at most 1 + 0.75 (the cap): reaching 100 takes at least ln 100 / ln 1.75 > 8 bets.
    assert.ok(observations >= 9 && observations <= 20, `${observations}`);
    assert.equal(bet.firedAt, observations + 1);
    for (let i = 0; i < 50; i++) bet.observe(-1);
    assert.ok(bet.eValue < 1);
    assert.equal(bet.fired, true);
  });

  it('wins more on a larger observation, whatever came before', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { maxLength: 40 }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        (history, a, b) => {
          const wealthAfter = (y: number): number => {
            const bet = new MeanBet(0.1, -1, 1, 0.05);
            for (const each of history) bet.observe(each);
            bet.observe(y);
            return bet.logWealth;
          };
          const [low, high] = a <= b ? [a, b] : [b, a];
          assert.ok(wealthAfter(low) <= wealthAfter(high));
        },
      ),
      { numRuns: 300, seed: 23 },
    );
  });
});

describe('blocks of calls', () => {
  it('closes a rate block at the first call of the other side, with the difference of failure rates', () => {
    const blocks = new RateBlocks();
    const sides: [Side, number][] = [
      [BASELINE, 1],
      [BASELINE, 0],
      [BASELINE, 0],
      [BASELINE, 0],
      [CANARY, 1],
      [CANARY, 0],
      [CANARY, 0],
      [BASELINE, 1],
    ];
    assert.deepEqual(
      sides.map(([side, value]) => blocks.observe(side, value)),
      [NaN, NaN, NaN, NaN, 1 - 1 / 4, NaN, NaN, 0 - 1],
    );
  });

  it('keeps the latest 8 latencies of a run of one side and counts ties as halves', () => {
    const blocks = new LatencyBlocks(2);
    for (let i = 1; i <= 10; i++) assert.ok(Number.isNaN(blocks.observe(BASELINE, i)));
    // Baselines 3..10 kept, scaled by 2: 6..20. A canary of 12 beats 6, 8, 10 and ties 12: 3.5 of 8.
    assert.equal(blocks.observe(CANARY, 12), 3.5 / 8);
    assert.ok(Number.isNaN(blocks.observe(CANARY, 1)));
    assert.equal(blocks.observe(BASELINE, 0.25), 1);
  });

  it('gives larger rate blocks for a failing canary and a succeeding baseline', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<Side>(CANARY, BASELINE), fc.constantFrom(0, 1)), { maxLength: 60 }),
        fc.nat(),
        (calls, pick) => {
          const flip = calls.findIndex(
            ([side, value], i) => i >= pick % (calls.length + 1) && (side === CANARY ? value === 0 : value === 1),
          );
          fc.pre(flip >= 0);
          const better = calls.map(([side, value], i): [Side, number] => [side, i === flip ? 1 - value : value]);
          const run = (list: [Side, number][]): number[] => {
            const blocks = new RateBlocks();
            return list.map(([side, value]) => blocks.observe(side, value)).filter((y) => !Number.isNaN(y));
          };
          const [before, after] = [run(calls), run(better)];
          assert.equal(after.length, before.length);
          before.forEach((y, i) => assert.ok(after[i]! >= y));
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('gives larger latency blocks for a slower canary, a faster baseline or a smaller ratio', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<Side>(CANARY, BASELINE), fc.integer({ min: 1, max: 50 })), {
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 20 }),
        (calls, slower) => {
          const run = (ratio: number, shift: number): number[] => {
            const blocks = new LatencyBlocks(ratio);
            return calls
              .map(([side, ms]) => blocks.observe(side, side === CANARY ? ms + shift : ms))
              .filter((y) => !Number.isNaN(y));
          };
          const base = run(1.2, 0);
          run(1.2, slower).forEach((y, i) => assert.ok(y >= base[i]!));
          run(1, 0).forEach((y, i) => assert.ok(y >= base[i]!));
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });
});

describe('false alarms under continuous checking (seeded simulation, 200 repetitions)', () => {
  // Both metrics exactly at their margins: the regression nulls hold with equality, the
  // hardest case for the bound. Confidence 0.95: at most 5% may roll back, i.e. 10 of 200;
  // 19 or more has a binomial chance below 0.3% even at exactly 5%.
  const atMargins: Scenario = {
    name: 'at the margins',
    canary: { errorRate: 0.007, medianMs: 12 },
    baseline: { errorRate: 0.002, medianMs: 10 },
    canaryShare: 0.5,
    canaryCalls: 2000,
    stopAtRollback: false,
  };
  const settings = { confidence: 0.95, ...MARGINS, checkEvery: 50 };

  it('rolls back at most 1 - confidence of the runs, checked after every call', () => {
    const outcomes = runScenario(atMargins, 200, 5, { settings });
    const rolledBack = outcomes.filter((o) => o.sequentialRollback >= 0).length;
    assert.ok(rolledBack <= 18, `${rolledBack} of 200 rolled back`);
  });

  it('tells apart fixed tests peeked at every 50 calls: identical versions roll back above the bound', () => {
    const identical = { ...atMargins, canary: atMargins.baseline, stopAtRollback: false };
    const outcomes = runScenario(identical, 200, 5, { settings });
    const peeking = outcomes.filter((o) => o.fixedTestsRollback >= 0).length;
    assert.ok(peeking > 18, `${peeking} of 200`);
    assert.equal(outcomes.filter((o) => o.sequentialRollback >= 0).length, 0);
  });
});

/** Feeds `calls` calls alternating between the sides (canary first) to every metric. */
function feed(
  judge: SequentialJudge,
  calls: number,
  call: (side: Side, i: number) => { stratum: string; values: number[] },
  stopAt?: 'rollback' | 'promote',
): number {
  for (let i = 0; i < calls; i++) {
    const side: Side = i % 2 === 0 ? CANARY : BASELINE;
    const { stratum, values } = call(side, i);
    values.forEach((value, metric) => judge.observe(metric, stratum, side, value));
    if (stopAt !== undefined && judge.decision() === stopAt) return i + 1;
  }
  return calls;
}

describe('sequential verdicts', () => {
  const options: SequentialJudgeOptions = { metrics: requestMetrics(MARGINS), names: ['v2', 'v1'] };

  it('rolls back a canary failing every call after 11 calls of each, naming the error-rate test', () => {
    const judge = new SequentialJudge(options);
    feed(judge, 100, (side) => ({ stratum: '', values: [side === CANARY ? 1 : 0] }), 'rollback');
    assert.deepEqual(judge.verdict(), {
      decision: 'rollback',
      test: 'sequential error-rate test',
      metric: 'errors',
      stratum: null,
      calls: { canary: 11, baseline: 11 },
      reason:
        'errors: v2 100% (11 of 11) vs v1 0% (0 of 11): increase above 0.5% shown by the sequential ' +
        'error-rate test (e-value 232 >= 200) after 11 v2 and 11 v1 calls',
    });
  });

  it('promotes identical versions once both metrics are shown within their margins, and again only after a reset', () => {
    const judge = new SequentialJudge(options);
    const latencies = [10, 11, 9, 12, 8];
    const seen = new Set<string>();
    let calls = 0;
    for (; calls < 10_000 && judge.decision() !== 'promote'; calls++) {
      const side: Side = calls % 2 === 0 ? CANARY : BASELINE;
      judge.observe(0, '', side, 0);
      judge.observe(1, '', side, latencies[(calls >> 1) % 5]!);
      seen.add(judge.decision());
    }
    // No error at all: the equivalence bet wins 1 + 0.75·0.005/0.995 a block, at most.
    assert.ok(calls > (2 * Math.log(100)) / Math.log(1 + (0.75 * 0.005) / 0.995), `${calls}`);
    assert.deepEqual([...seen].sort(), ['continue', 'promote']);
    const verdict = judge.verdict();
    assert.equal(verdict.decision, 'promote');
    assert.deepEqual(verdict.calls, { canary: calls / 2, baseline: calls / 2 });
    assert.match(
      verdict.reason,
      /^errors: .* increase below 0.5% shown by the sequential error-rate test .*; latency: /,
    );
    judge.resetEquivalence();
    assert.equal(judge.decision(), 'continue');
  });

  it('does not promote while one metric is not shown within its margin', () => {
    // No errors at all, and the canary exactly 1.2 times slower: latency sits on its margin.
    const judge = new SequentialJudge(options);
    const random = seededRandom(13);
    const decisions = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const side: Side = i % 2 === 0 ? CANARY : BASELINE;
      judge.observe(0, '', side, 0);
      judge.observe(1, '', side, (side === CANARY ? 1.2 : 1) * 10 * Math.exp(0.3 * normal(random)));
      decisions.add(judge.decision());
    }
    assert.deepEqual([...decisions], ['continue']);
    assert.ok(judge.comparisons[0]!.equivalence('pooled'));
  });

  it('with any-regression evidence, rolls back a 1.3x slower canary sooner, the estimate in the reason', () => {
    const random = seededRandom(19);
    const latencies = Array.from({ length: 4000 }, (_, i) => (i % 2 === 0 ? 13 : 10) * Math.exp(0.3 * normal(random)));
    const stopAt = (evidence: 'beyond-margin' | 'any-regression'): [number, SequentialJudge] => {
      const judge = new SequentialJudge({ ...options, evidence });
      return [
        feed(judge, latencies.length, (_side, i) => ({ stratum: '', values: [0, latencies[i]!] }), 'rollback'),
        judge,
      ];
    };
    const [anyAt, any] = stopAt('any-regression');
    const [beyondAt] = stopAt('beyond-margin');
    assert.ok(anyAt < beyondAt && beyondAt < latencies.length, `${anyAt} ${beyondAt}`);
    assert.match(
      any.verdict().reason,
      /^latency: v2 slower than 1\.2 x v1 in \d+(\.\d+)?% of pairs: v2 slower than v1 shown by the sequential latency test/,
    );
    // 1.05x slower: shown slower than v1, but estimated (and shown) well within the 1.2 margin: promoted.
    const within = new SequentialJudge({ ...options, evidence: 'any-regression' });
    feed(within, 20_000, (side) => ({
      stratum: '',
      values: [0, (side === CANARY ? 10.5 : 10) * Math.exp(0.3 * normal(random))],
    }));
    assert.equal(within.comparisons[1]!.strata[0]!.tests.regression.fired, true);
    assert.equal(within.decision(), 'promote');
    const failing = new SequentialJudge({ ...options, evidence: 'any-regression' });
    feed(failing, 100, (side) => ({ stratum: '', values: [side === CANARY ? 1 : 0] }), 'rollback');
    assert.match(
      failing.verdict().reason,
      /: an increase \(estimated 100% > 0\.5%\) shown by the sequential error-rate test/,
    );
  });

  it('answers continue before any call, and says so', () => {
    assert.deepEqual(new SequentialJudge(options).verdict(), {
      decision: 'continue',
      test: null,
      metric: null,
      stratum: null,
      calls: null,
      reason: 'no decision yet: errors: no calls of both versions yet; latency: no calls of both versions yet',
    });
  });

  it('rejects options out of range, naming the field', () => {
    assert.throws(() => new SequentialJudge({ ...options, confidence: 1 }), {
      message: 'confidence: expected a number above 0.5 and below 1, got `1` (number)',
    });
    assert.throws(() => new SequentialJudge({ metrics: [{ name: 'errors', kind: 'rate', margin: 1 }] }), {
      message: 'metrics[0].margin: expected a rate increase from 0 to below 1, got `1` (number)',
    });
    assert.throws(() => new SequentialJudge({ metrics: [{ name: 'latency', kind: 'latency', margin: 0.9 }] }), {
      message: 'metrics[0].margin: expected a finite ratio >= 1, got `0.9` (number)',
    });
  });
});

describe('strata', () => {
  const methods = ['/shop.Store/Read', '/shop.Store/Write', '/shop.Store/List'];

  it('names a rare method failing 20% where the pooled judge, within its margin, passes', () => {
    // List is 5% of calls; its 20% failures add 1% to the canary's overall rate, under the 2% margin.
    const margins = { maxErrorRateIncrease: 0.02, maxLatencyRatio: 1.2 };
    const random = seededRandom(31);
    const plan: { stratum: string; values: number[] }[] = [];
    for (let i = 0; i < 40_000; i++) {
      const side = i % 2 === 0 ? CANARY : BASELINE;
      const stratum = random() < 0.05 ? methods[2]! : methods[random() < 0.5 ? 0 : 1]!;
      const rate = side === CANARY && stratum === methods[2] ? 0.2 : 0.002;
      plan.push({ stratum, values: [random() < rate ? 1 : 0] });
    }
    const stratified = new SequentialJudge({ metrics: requestMetrics(margins).slice(0, 1), strata: methods });
    const pooled = new SequentialJudge({ metrics: requestMetrics(margins).slice(0, 1) });
    const stoppedAt = feed(stratified, plan.length, (_side, i) => plan[i]!, 'rollback');
    feed(pooled, plan.length, (_side, i) => plan[i]!);
    const verdict = stratified.verdict();
    assert.equal(verdict.decision, 'rollback');
    assert.equal(verdict.stratum, '/shop.Store/List');
    // Alpha 0.01: half to the pooled test, the other half shared by 4 strata (List, Read, Write, other).
    assert.equal(
      verdict.reason,
      'errors in /shop.Store/List: canary 17.46% (22 of 126) vs baseline 0% (0 of 139): increase above 2% ' +
        'shown by the sequential error-rate test (e-value 1020 >= 800) after 126 canary and 139 baseline calls',
    );
    assert.ok(stoppedAt < plan.length);
    assert.notEqual(pooled.decision(), 'rollback');
  });

  it('passes equal versions whose mixes of a slow, failing method differ, where the pooled judge alarms', () => {
    // The slow method (5x slower, 5% failures) is 60% of the canary's calls and 30% of the baseline's.
    const random = seededRandom(41);
    const plan: { stratum: string; values: number[] }[] = [];
    for (let i = 0; i < 20_000; i++) {
      const slow = random() < (i % 2 === 0 ? 0.6 : 0.3);
      const values = [random() < (slow ? 0.05 : 0) ? 1 : 0, (slow ? 50 : 10) * Math.exp(0.3 * normal(random))];
      plan.push({ stratum: slow ? '/shop.Store/List' : '/shop.Store/Read', values });
    }
    const stratified = new SequentialJudge({ metrics: requestMetrics(MARGINS), strata: methods });
    const pooled = new SequentialJudge({ metrics: requestMetrics(MARGINS) });
    feed(stratified, plan.length, (_side, i) => plan[i]!);
    feed(pooled, plan.length, (_side, i) => plan[i]!);
    assert.equal(pooled.decision(), 'rollback');
    assert.notEqual(stratified.decision(), 'rollback');
  });

  it('puts calls of undeclared strata in `other`, and names it', () => {
    // Undeclared methods are every 10th pair of calls and fail on the canary: 10% over all, under the 20% margin.
    const errors = [{ name: 'errors', kind: 'rate' as const, margin: 0.2 }];
    const judge = new SequentialJudge({ metrics: errors, strata: methods });
    assert.deepEqual(
      judge.comparisons[0]!.strata.map((state) => state.name),
      [...methods, 'other'],
    );
    const call = (side: Side, i: number) =>
      (i >> 1) % 10 === 0
        ? { stratum: `/x.Y/Z${i}`, values: [side === CANARY ? 1 : 0] }
        : { stratum: methods[0]!, values: [0] };
    const stoppedAt = feed(judge, 4000, call, 'rollback');
    assert.equal(judge.verdict().stratum, 'other');
    const undeclared = [0, 0];
    for (let i = 0; i < stoppedAt; i++) if ((i >> 1) % 10 === 0) undeclared[i % 2]!++;
    assert.deepEqual(judge.comparisons[0]!.strata[3]!.calls, undeclared);
    assert.ok(undeclared[0]! > 10);
    assert.equal(judge.comparisons[0]!.pooledRegression, null);
  });
});

describe('promotion with strata', () => {
  const methods = ['/shop.Store/Read', '/shop.Store/List'];
  /** Identical versions without errors; List is every 4th pair of calls. */
  function promoteAfter(judge: SequentialJudge, limit: number): number {
    for (let i = 0; i < limit; i++) {
      const side: Side = i % 2 === 0 ? CANARY : BASELINE;
      judge.observe(0, methods[(i >> 1) % 4 === 0 ? 1 : 0]!, side, 0);
      if (judge.decision() === 'promote') return i + 1;
    }
    return -1;
  }

  it('promotes on the pooled test, or only once every stratum is shown, and starts afresh after a reset', () => {
    const errors = requestMetrics(MARGINS).slice(0, 1);
    const pooled = new SequentialJudge({ metrics: errors, strata: methods });
    const every = new SequentialJudge({ metrics: errors, strata: methods, promoteWhen: 'every-stratum' });
    const [pooledAt, everyAt] = [promoteAfter(pooled, 40_000), promoteAfter(every, 40_000)];
    assert.ok(pooledAt > 0 && everyAt > 0, `${pooledAt} ${everyAt}`);
    // List sees a quarter of the blocks: it needs about four times the calls to show its own.
    assert.ok(everyAt > 3 * pooledAt, `${pooledAt} ${everyAt}`);
    pooled.resetEquivalence();
    assert.equal(pooled.decision(), 'continue');
    assert.equal(promoteAfter(pooled, 40_000), pooledAt);
  });
});

describe('stream metrics', () => {
  it('judges time to first message, mid-stream failures and gaps, and names the one that regressed', () => {
    const metrics = streamMetrics(MARGINS);
    assert.deepEqual(
      metrics.map((m) => [m.name, m.kind, m.margin]),
      [
        ['time to first message', 'latency', 1.2],
        ['mid-stream failures', 'rate', 0.005],
        ['gaps between messages', 'latency', 1.2],
      ],
    );
    assert.deepEqual(
      streamMetrics({ ...MARGINS, gaps: false }).map((m) => m.name),
      ['time to first message', 'mid-stream failures'],
    );
    const judge = new SequentialJudge({ metrics: [...requestMetrics(MARGINS), ...metrics], names: ['v2', 'v1'] });
    const random = seededRandom(3);
    // The canary's first message comes 200 ms later; everything else alike.
    feed(
      judge,
      2000,
      (side) => ({
        stratum: '',
        values: [
          0,
          40,
          (side === CANARY ? 250 : 50) * Math.exp(0.3 * normal(random)),
          0,
          20 * Math.exp(0.3 * normal(random)),
        ],
      }),
      'rollback',
    );
    const verdict = judge.verdict();
    assert.equal(verdict.decision, 'rollback');
    assert.equal(verdict.metric, 'time to first message');
    assert.equal(verdict.test, 'sequential latency test');
    assert.match(
      verdict.reason,
      /^time to first message: v2 slower than 1\.2 x v1 in \d+(\.\d+)?% of pairs: v2 slower/,
    );
    assert.equal(judge.indexOf('gaps between messages'), 4);
  });
});

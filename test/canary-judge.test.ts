import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeCanary, type CanaryWindow } from '../src/ops/index.js';
import { bucketMiddleMs, latencyBucket } from '../src/algorithms/latency.js';
import {
  fisherExactGreater,
  histogramQuantile,
  mannWhitneyGreater,
  normalUpperTail,
} from '../src/algorithms/stats-tests.js';
// mulberry32, seeded: the simulation draws the same numbers on every run.
import { seededRandom as prng } from '../benchmarks/random-pick.js';

/** A window of calls from plain values: every value is its own histogram entry. */
function windowOf(latencies: number[], failures = 0): CanaryWindow {
  const counts = new Map<number, number>();
  for (const ms of latencies) counts.set(ms, (counts.get(ms) ?? 0) + 1);
  return {
    finished: latencies.length,
    codes: { OK: latencies.length - failures, ...(failures > 0 && { INTERNAL: failures }) },
    latencyHistogram: [...counts],
  };
}

/**
 * `calls` calls as the split would record them: log-normal latencies (median `medianMs`, spread
 * 0.3), binned in the split's own histogram, and each failing with probability `errorRate`.
 */
function simulate(random: () => number, calls: number, medianMs: number, errorRate: number): CanaryWindow {
  const buckets = new Map<number, number>();
  let failures = 0;
  for (let i = 0; i < calls; i++) {
    // Box-Muller; 1 - random() keeps the logarithm finite.
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const ms = medianMs * Math.exp(0.3 * normal);
    const b = latencyBucket(ms);
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
    if (random() < errorRate) failures++;
  }
  const latencyHistogram = [...buckets]
    .sort((x, y) => x[0] - y[0])
    .map(([b, n]): [number, number] => [Math.round(bucketMiddleMs(b) * 1000) / 1000, n]);
  return {
    finished: calls,
    codes: { OK: calls - failures, ...(failures > 0 && { INTERNAL: failures }) },
    latencyHistogram,
  };
}

/** Judges `repetitions` pairs of identical versions; returns how many were failed. */
function falseAlarms(
  seed: number,
  repetitions: number,
  options: Parameters<typeof judgeCanary>[2],
  calls = 600,
): { total: number; errors: number; latency: number } {
  const random = prng(seed);
  const alarms = { total: 0, errors: 0, latency: 0 };
  for (let r = 0; r < repetitions; r++) {
    const verdict = judgeCanary(simulate(random, calls, 10, 0.002), simulate(random, calls, 10, 0.002), options);
    if (verdict.verdict === 'fail') alarms.total++;
    if (verdict.errors.failed) alarms.errors++;
    if (verdict.latency.failed) alarms.latency++;
  }
  return alarms;
}

describe('statistics', () => {
  it('gives the normal upper tail to 1e-12 relative against erfc', () => {
    // Reference: Python's math.erfc, Q(z) = erfc(z / sqrt 2) / 2.
    const reference: [number, number][] = [
      [0.5, 0.3085375387259869],
      [1, 0.15865525393145707],
      [2.9999, 0.0013503412829549248],
      [3, 0.0013498980316300957],
      [5, 2.866515718791946e-7],
      [8, 6.220960574271819e-16],
    ];
    for (const [z, q] of reference) {
      assert.ok(Math.abs(normalUpperTail(z) - q) <= 1e-12 * q, `Q(${z}) = ${normalUpperTail(z)}, expected ${q}`);
      assert.ok(Math.abs(normalUpperTail(-z) - (1 - q)) <= 1e-14, `Q(-${z})`);
    }
    assert.equal(normalUpperTail(0), 0.5);
  });

  it('computes the one-sided Fisher exact p-value of tiny tables by hand', () => {
    // 3 of 3 failed vs 0 of 3: C(3,3)·C(3,0) / C(6,3) = 1/20.
    assert.ok(Math.abs(fisherExactGreater(3, 3, 0, 3).pValue - 1 / 20) < 1e-15);
    // 2 of 4 vs 0 of 4: C(2,2)·C(6,2) / C(8,4) = 15/70 = 3/14.
    assert.ok(Math.abs(fisherExactGreater(2, 4, 0, 4).pValue - 3 / 14) < 1e-15);
    // 1 of 4 vs 1 of 4: 1 - P(X = 0) = 1 - C(6,4) / C(8,4) = 1 - 15/70 = 11/14.
    assert.ok(Math.abs(fisherExactGreater(1, 4, 1, 4).pValue - 11 / 14) < 1e-15);
    assert.equal(fisherExactGreater(0, 10, 5, 10).pValue, 1);
    // Large samples: 18 of 600 vs 0 of 600 is far below 0.001.
    const big = fisherExactGreater(18, 600, 0, 600).pValue;
    assert.ok(big > 0 && big < 1e-5, `${big}`);
  });

  it('computes Mann-Whitney U, z and p by hand, without and with ties', () => {
    // Canary 10, 20, 30 above baseline 1, 2, 3: U = 9, mean 4.5, variance 3·3·7/12 = 5.25.
    const distinct = mannWhitneyGreater(
      [
        [10, 1],
        [20, 1],
        [30, 1],
      ],
      [
        [1, 1],
        [2, 1],
        [3, 1],
      ],
    );
    assert.equal(distinct.u, 9);
    assert.ok(Math.abs(distinct.z - 4 / Math.sqrt(5.25)) < 1e-15);
    assert.ok(Math.abs(distinct.pValue - 0.04042779918502615) < 1e-15, `${distinct.pValue}`);
    // Canary 2, 2, 3 vs baseline 1, 2, 2: the four 2s share ranks 2..5 (mean 3.5).
    // R = 2·3.5 + 6 = 13, U = 13 - 6 = 7; ties Σ(t³ - t) = 60, variance 9/12 · (7 - 60/30) = 3.75.
    const tied = mannWhitneyGreater(
      [
        [2, 2],
        [3, 1],
      ],
      [
        [1, 1],
        [2, 2],
      ],
    );
    assert.equal(tied.u, 7);
    assert.ok(Math.abs(tied.z - 2 / Math.sqrt(3.75)) < 1e-15);
    assert.ok(Math.abs(tied.pValue - 0.15084979123917402) < 1e-15, `${tied.pValue}`);
    // Everything in one bucket: no evidence at all.
    assert.deepEqual(mannWhitneyGreater([[5, 10]], [[5, 7]]), { u: 35, z: 0, pValue: 1 });
  });

  it('takes quantiles of a histogram by rank ceil(q n)', () => {
    assert.equal(
      histogramQuantile(
        [
          [3, 1],
          [1, 2],
          [2, 1],
        ],
        0.5,
      ),
      1,
    );
    assert.equal(
      histogramQuantile(
        [
          [3, 1],
          [1, 2],
          [2, 1],
        ],
        0.99,
      ),
      3,
    );
    assert.equal(histogramQuantile([], 0.5), null);
  });
});

describe('judgeCanary', () => {
  it('fails a slower canary on latency, naming both medians, the ratio and the p-value', () => {
    const verdict = judgeCanary(windowOf(Array(50).fill(24.8)), windowOf(Array(50).fill(9.9)), {
      names: ['v2', 'v1'],
    });
    assert.equal(verdict.verdict, 'fail');
    assert.equal(verdict.reason, 'latency: v2 median 24.8 ms vs v1 9.9 ms (x2.51 > 1.2), Mann-Whitney p < 0.001');
    assert.equal(verdict.latency.u, 2500);
    assert.equal(verdict.latency.failed, true);
    assert.equal(verdict.errors.failed, false);
    assert.deepEqual(verdict.canary, { calls: 50, failures: 0, errorRate: 0, p50Ms: 24.8, p90Ms: 24.8, p99Ms: 24.8 });
  });

  it('passes a significantly but only slightly slower canary (effect under maxLatencyRatio)', () => {
    const verdict = judgeCanary(windowOf(Array(500).fill(11)), windowOf(Array(500).fill(10)));
    assert.ok(verdict.latency.pValue < 1e-10);
    assert.equal(verdict.latency.medianRatio, 1.1);
    assert.equal(verdict.verdict, 'pass');
  });

  it('fails on errors only when the increase is both significant and above maxErrorRateIncrease', () => {
    const same = Array(600).fill(10);
    const failing = judgeCanary(windowOf(same, 18), windowOf(same, 0), { names: ['v2', 'v1'] });
    assert.equal(failing.verdict, 'fail');
    assert.match(
      failing.reason,
      /^errors: v2 3% \(18 of 600\) vs v1 0% \(0 of 600\) \(\+3% > 0\.5%\), Fisher p < 0\.001$/,
    );
    // Significant (p < 0.01) but an increase of 0.4 points, under the default 0.5.
    const small = judgeCanary(windowOf(Array(10_000).fill(10), 50), windowOf(Array(10_000).fill(10), 10));
    assert.ok(small.errors.pValue < 0.01, `${small.errors.pValue}`);
    assert.equal(small.errors.failed, false);
    // Large (+2 points) but not significant on 50 calls each.
    const few = judgeCanary(windowOf(Array(50).fill(10), 1), windowOf(Array(50).fill(10), 0));
    assert.ok(few.errors.pValue >= 0.01);
    assert.equal(few.verdict, 'pass');
  });

  it('refuses options out of range with the library message template', () => {
    const w = windowOf([1]);
    assert.throws(() => judgeCanary(w, w, { confidence: 1 }), {
      name: 'TrafficSplitRangeError',
      message: 'confidence: expected a number above 0.5 and below 1, got `1` (number)',
    });
    assert.throws(() => judgeCanary(w, w, { maxLatencyRatio: '2' as unknown as number }), {
      name: 'TrafficSplitTypeError',
      message: 'maxLatencyRatio: expected a finite number >= 1, got `"2"` (string)',
    });
  });

  it('passes identical versions in at least 19 of 20 simulated steps (600 calls each, seeded)', () => {
    const alarms = falseAlarms(1, 20, {});
    assert.ok(alarms.total <= 1, `false alarms ${alarms.total} of 20`);
    console.log(`# false alarms, 20 repetitions, defaults: ${alarms.total}`);
  });

  it('measures the false-positive rate over 2000 simulated steps for the README table', () => {
    const runs = 2000;
    const rows: [string, Parameters<typeof judgeCanary>[2]][] = [
      ['defaults (0.99, +0.5 points, x1.2)', {}],
      ['0.95, +0.5 points, x1.2', { confidence: 0.95 }],
      ['0.99, no effect bounds', { maxErrorRateIncrease: 0, maxLatencyRatio: 1 }],
      ['0.95, no effect bounds', { confidence: 0.95, maxErrorRateIncrease: 0, maxLatencyRatio: 1 }],
    ];
    for (const [name, options] of rows) {
      const alarms = falseAlarms(7, runs, options);
      console.log(`# ${name}: ${alarms.total} of ${runs} (errors ${alarms.errors}, latency ${alarms.latency})`);
      // A one-sided test at confidence c fails at most about 1 - c of identical pairs, per test.
      const level = 1 - (options?.confidence ?? 0.99);
      assert.ok(
        alarms.errors <= 2 * level * runs && alarms.latency <= 2 * level * runs,
        `${name}: ${JSON.stringify(alarms)}`,
      );
    }
  });

  it('detects a 30% slower canary and a 3% error rate in the simulation', () => {
    const random = prng(3);
    const slower = judgeCanary(simulate(random, 600, 13, 0), simulate(random, 600, 10, 0));
    assert.equal(slower.latency.failed, true, slower.reason);
    const failing = judgeCanary(simulate(random, 600, 10, 0.03), simulate(random, 600, 10, 0));
    assert.equal(failing.errors.failed, true, failing.reason);
  });
});

/**
 * The judges attacked with inputs no server on loopback produces on demand: latencies of zero
 * and of hours, a hundred thousand method names, calls observed in the order they finish at
 * concurrency 8, a method only one side served, and `judgeCanary()`'s defaults.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallEnded, SplitHandle } from '../src/index.js';
import { DEFAULT_FAILURE_CODES, judgeCanary, type CanaryWindow } from '../src/ops/index.js';
import { SequentialWatch, type WatchOptions } from '../src/ops/rollout/sequential-watch.js';
import { requestMetrics, SequentialJudge } from '../src/algorithms/judge/sequential-judge.js';
import { BASELINE, CANARY, LatencyBlocks, type Side } from '../src/algorithms/judge/blocks.js';
import { seededRandom } from '../src/algorithms/random.js';
import { Status } from '../src/split/ops-port.js';

const READ = '/shop.Store/Read';
const OPTIONS: WatchOptions = {
  canary: 'v2',
  baseline: 'v1',
  confidence: 0.99,
  maxErrorRateIncrease: 0.005,
  maxLatencyRatio: 1.2,
  failureCodes: new Set(DEFAULT_FAILURE_CODES.map((name) => Status[name])),
  stratify: true,
  methods: null,
};

/** A watch fed by hand, as a rollout's is fed by the split; its judge read directly. */
function watched(strata: readonly string[] = []): {
  feed: (call: CallEnded) => void;
  judge: SequentialJudge;
} {
  let listener: ((call: CallEnded) => void) | null = null;
  const handle = {
    onCallEnded: (l: (call: CallEnded) => void) => ((listener = l), () => (listener = null)),
  } as unknown as SplitHandle;
  const watch = new SequentialWatch(handle, OPTIONS, strata, () => {});
  watch.start();
  return {
    feed: (call) => listener!(call),
    judge: (watch as unknown as { judge: SequentialJudge }).judge,
  };
}

function unary(subset: string, ms: number, method = READ): CallEnded {
  return {
    subset,
    method,
    code: Status.OK,
    streaming: false,
    durationMs: ms,
    latencyMs: ms,
    messages: null,
    firstMessageMs: null,
    maxGapMs: null,
    meanGapMs: null,
  };
}

/** A log-normal value (spread 0.3) around `median`. */
function around(random: () => number, median: number): number {
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(0.3 * normal);
}

describe('latencies of zero and of hours', () => {
  it('never rolls back versions that both answer in 0 ms; ties on the margin never show equivalence', () => {
    const { feed, judge } = watched();
    for (let i = 0; i < 6_000; i++) feed(unary(i % 2 === 0 ? 'v2' : 'v1', 0));
    const [errors, latency] = judge.comparisons;
    assert.equal(latency!.regression(), null);
    assert.equal(errors!.equivalence('pooled'), true);
    // Every pair ties (0 = 1.2 x 0), exactly on the boundary θ = 1/2: neither test can fire.
    assert.equal(latency!.equivalence('pooled'), false);
    assert.equal(judge.decision(), 'continue');
  });

  it('judges latencies of hours as it judges milliseconds: alike promoted, twice as slow rolled back', () => {
    const HOUR = 3_600_000;
    for (const [scale, decision] of [
      [1, 'promote'],
      [2, 'rollback'],
    ] as const) {
      const random = seededRandom(7);
      const { feed, judge } = watched();
      for (let i = 0; i < 6_000 && judge.decision() === 'continue'; i++) {
        const canary = i % 2 === 0;
        feed(unary(canary ? 'v2' : 'v1', around(random, HOUR) * (canary ? scale : 1)));
      }
      assert.equal(judge.decision(), decision, judge.verdict().reason);
      if (decision === 'rollback') assert.equal(judge.verdict().metric, 'latency');
    }
  });
});

describe('method names the judge never declared', () => {
  it('keeps its strata whatever 100,000 new method names calls bring', () => {
    const { feed, judge } = watched([READ, '/shop.Store/Write']);
    const before = judge.comparisons.map((comparison) => comparison.strata.length);
    assert.deepEqual(before, Array(judge.comparisons.length).fill(5), 'Read, Write, 2 spares and other');
    for (let i = 0; i < 100_000; i++) feed(unary(i % 2 === 0 ? 'v2' : 'v1', 1, `/adv.Many/M${i}`));
    assert.deepEqual(
      judge.comparisons.map((comparison) => comparison.strata.length),
      before,
    );
    // The first 2 new names took the spares (one call each, alternating sides); the rest is `other`.
    const other = judge.comparisons[0]!.strata.find((stratum) => stratum.name === 'other')!;
    assert.deepEqual(other.calls, [49_999, 49_999]);
    assert.deepEqual(
      judge.comparisons[0]!.strata.slice(2, 4).map((stratum) => [stratum.name, stratum.calls]),
      [
        ['/adv.Many/M0', [1, 0]],
        ['/adv.Many/M1', [0, 1]],
      ],
    );
  });
});

/**
 * `calls` calls of a closed loop of `concurrency` workers, picks alternating between the
 * versions (50/50), log-normal latencies (median 2 ms, spread 0.3), the canary's times `scale`;
 * fed to `observe` in the order they finish, as the split's feed tells them.
 */
function completionOrder(
  random: () => number,
  concurrency: number,
  calls: number,
  scale: number,
  observe: (side: Side, ms: number) => boolean,
): void {
  const ends = new Float64Array(concurrency);
  const sides = new Int8Array(concurrency);
  const durations = new Float64Array(concurrency);
  let picks = 0;
  const start = (worker: number, now: number): void => {
    const side: Side = picks++ % 2 === 0 ? CANARY : BASELINE;
    const ms = around(random, 2) * (side === CANARY ? scale : 1);
    ends[worker] = now + ms;
    sides[worker] = side;
    durations[worker] = ms;
  };
  for (let w = 0; w < concurrency; w++) start(w, 0);
  for (let i = 0; i < calls; i++) {
    let next = 0;
    for (let w = 1; w < concurrency; w++) if (ends[w]! < ends[next]!) next = w;
    if (observe(sides[next]! as Side, durations[next]!)) return;
    start(next, ends[next]!);
  }
}

describe('calls observed in the order they finish, 8 at a time', () => {
  it('rolls back no run of identical versions and no run of a canary 15% slower (margin 1.2)', () => {
    const rolledBack = { 1: 0, 1.15: 0 };
    const blockMeans = { 1: 0, 1.15: 0 };
    const RUNS = 40;
    for (const scale of [1, 1.15] as const) {
      for (let run = 0; run < RUNS; run++) {
        const judge = new SequentialJudge({ metrics: requestMetrics(OPTIONS).slice(1), confidence: 0.99 });
        const blocks = new LatencyBlocks(1.2);
        let sum = 0;
        let count = 0;
        completionOrder(seededRandom(run + 1), 8, 8_000, scale, (side, ms) => {
          judge.observe(0, '', side, ms);
          const y = blocks.observe(side, ms);
          if (!Number.isNaN(y)) {
            sum += y;
            count++;
          }
          return judge.decision() === 'rollback';
        });
        if (judge.decision() === 'rollback') rolledBack[scale]++;
        blockMeans[scale] += sum / count / RUNS;
      }
    }
    assert.deepEqual(rolledBack, { 1: 0, 1.15: 0 });
    // θ for independent pairs: 1/3 for identical versions, 0.4595 at x1.15 (spread 0.3 each):
    // pairing the calls that finish next to each other does not raise it.
    assert.ok(blockMeans[1] < 1 / 3 && blockMeans[1.15] < 0.4595, JSON.stringify(blockMeans));
  });
});

/** A window with `read` Read calls (1 ms, OK) and the List calls given. */
function shopWindow(read: number, list: { calls: number; failed: number } | null): CanaryWindow {
  const listCodes = list === null ? {} : { OK: list.calls - list.failed, INTERNAL: list.failed };
  const lists = list?.calls ?? 0;
  return {
    finished: read + lists,
    codes: { OK: read + (list === null ? 0 : list.calls - list.failed), ...(list && { INTERNAL: list.failed }) },
    latencyHistogram: [[1, read + lists]],
    methods: {
      [READ]: { finished: read, codes: { OK: read }, latencyHistogram: [[1, read]] },
      ...(list !== null && {
        '/shop.Store/List': { finished: lists, codes: listCodes, latencyHistogram: [[1, lists]] },
      }),
    },
  };
}

describe('judgeCanary() when one side served a method the other never did', () => {
  it('fails pooled; stratified passes but names the method it could not compare', () => {
    // A rule sends every List call to v2, which fails all of them.
    const v2 = shopWindow(500, { calls: 100, failed: 100 });
    const v1 = shopWindow(500, null);
    const pooled = judgeCanary(v2, v1, { names: ['v2', 'v1'], stratify: false });
    assert.equal(pooled.verdict, 'fail', pooled.reason);
    const stratified = judgeCanary(v2, v1, { names: ['v2', 'v1'] });
    assert.equal(stratified.verdict, 'pass', stratified.reason);
    assert.match(
      stratified.reason,
      /; not compared \(one side only\): \/shop\.Store\/List \(v2: 100 calls, 100 failed\)$/,
    );
  });
});

describe("judgeCanary()'s defaults", () => {
  it('counts the failure codes a rollout counts by default, UNIMPLEMENTED among them', () => {
    const window = (code: string, failed: number): CanaryWindow => ({
      finished: 1_000,
      codes: { OK: 1_000 - failed, ...(failed > 0 && { [code]: failed }) },
      latencyHistogram: [[1, 1_000]],
    });
    const names = Object.keys(Status).filter((key) => Number.isNaN(Number(key)));
    const counted = names.filter((code) => judgeCanary(window(code, 100), window(code, 0)).canary.failures === 100);
    assert.deepEqual(counted.sort(), [...DEFAULT_FAILURE_CODES].sort());
  });
});

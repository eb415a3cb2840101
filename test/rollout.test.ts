import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setImmediate as settle } from 'node:timers/promises';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  TrafficSplit,
  TrafficSplitClosedError,
  TrafficSplitRangeError,
  TrafficSplitRolloutError,
  TrafficSplitTypeError,
} from '../src/index.js';
import { activeRollout, startRollout, type Rollout, type RolloutOptions } from '../src/ops/index.js';
import { runFixture } from './helpers/fixture-process.js';
import { FakeClock } from './helpers/fake-clock.js';
import { makeCalls, rolloutRig, serversOf } from './helpers/rollout-rig.js';

/** Every event of a rollout, as `step:0`, `wait:0`, `verdict:0:pass`, `done:promoted`. */
function recordEvents(rollout: Rollout): string[] {
  const events: string[] = [];
  rollout.on('step', (s) => events.push(`step:${s.step}`));
  rollout.on('wait', (w) => events.push(`wait:${w.step}`));
  rollout.on('verdict', (r) => events.push(`verdict:${r.step}:${r.verdict}`));
  rollout.on('done', (r) => events.push(`done:${r.outcome}`));
  return events;
}

/** A split over two ports nothing listens on: enough for option checks and plans (no channel is built). */
function offlineSplit(weights: Record<string, number>, subsets = ['v1', 'v2']): TrafficSplit {
  return new TrafficSplit({ subsets: Object.fromEntries(subsets.map((name) => [name, 'ipv4:127.0.0.1:1'])), weights });
}

/**
 * Options for a two-step rollout. Every test that lets a step end passes a FakeClock: a step's
 * interval then ends when the test advances the clock, after the calls it made have finished,
 * so each verdict is a function of those calls and not of how fast the machine runs.
 */
const fast = (
  extra: Partial<RolloutOptions['analysis']> = {},
  intervalMs = 80,
  clock?: FakeClock,
): RolloutOptions => ({
  subset: 'v2',
  steps: [10, 50],
  intervalMs,
  analysis: { maxErrorRate: 0.05, minCalls: 3, ...extra },
  ...(clock && { clock }),
});

describe('rollout', () => {
  it('rolls a subset that answers INTERNAL back at the end of its first interval, to exactly the weights before', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 1, v2: 0 }, { v2FailsWith: grpc.status.INTERNAL });
    const clock = new FakeClock();
    const intervalMs = 150;
    // minCalls 1: the step is judged at the end of its interval (the early verdict needs fewer calls).
    const rollout = startRollout(split, { ...fast({ minCalls: 1 }, intervalMs, clock), steps: [10, 50, 100] });
    const events = recordEvents(rollout);
    assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    assert.deepEqual(clock.pending, [intervalMs]);
    // 40 sequential calls at 90/10: the schedule gives v2 exactly one call in every ten.
    assert.deepEqual((await makeCalls(client, 40)).counts, { v1: 36, 'error:13': 4 });
    clock.advance(intervalMs - 1);
    assert.equal(rollout.state, 'running');
    clock.advance(1);
    const result = await rollout.done;
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(result.history.length, 1);
    const [step] = result.history;
    assert.equal(step!.verdict, 'fail');
    assert.deepEqual(
      { ...step!.figures, p99Ms: 0 },
      { periodMs: 150, calls: 4, failures: 4, errorRate: 1, p99Ms: 0, waitedIntervals: 0 },
    );
    assert.equal(result.reason, 'step 1 (10%): error rate 100% (4 of 4 calls) > 5%');
    assert.equal(result.durationMs, intervalMs);
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 0 });
    assert.deepEqual(result.weights, { v1: 1, v2: 0 });
    assert.deepEqual(clock.pending, [], 'no timer left behind');
    assert.deepEqual(await serversOf(client, 10), Array(10).fill('v1'));
    await settle();
    assert.deepEqual(events, ['step:0', 'verdict:0:fail', 'done:rolled-back']);
    assert.equal(activeRollout(split), undefined);
  });

  it('promotes a healthy subset to 100 and the others to 0 after every step passed', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 1, v2: 0 });
    const clock = new FakeClock();
    const rollout = startRollout(split, fast({}, 80, clock));
    const events = recordEvents(rollout);
    assert.deepEqual(
      rollout.plan.map((p) => p.weights),
      [
        { v1: 90, v2: 10 },
        { v1: 50, v2: 50 },
      ],
    );
    // Step 1 (10%): 40 calls give v2 4, above minCalls 3.
    assert.deepEqual((await makeCalls(client, 40)).counts, { v1: 36, v2: 4 });
    clock.advance(80);
    await settle();
    assert.deepEqual(events, ['step:0', 'verdict:0:pass', 'step:1']);
    assert.deepEqual(split.getWeights(), { v1: 50, v2: 50 });
    // Step 2 (50%): a fresh window, holding only the calls made from here on.
    assert.deepEqual((await makeCalls(client, 20)).counts, { v1: 10, v2: 10 });
    clock.advance(80);
    const result = await rollout.done;
    assert.equal(result.outcome, 'promoted', result.reason);
    assert.equal(result.reason, 'all 2 steps passed');
    assert.deepEqual(
      result.history.map((s) => [s.step, s.percent, s.verdict, s.figures.calls]),
      [
        [0, 10, 'pass', 4],
        [1, 50, 'pass', 10],
      ],
    );
    assert.deepEqual(
      result.history.map((s) => s.reason),
      ['error rate 0% (0 of 4 calls) <= 5%', 'error rate 0% (0 of 10 calls) <= 5%'],
    );
    assert.equal(result.durationMs, 160);
    assert.deepEqual(split.getWeights(), { v1: 0, v2: 100 });
    assert.deepEqual(await serversOf(client, 10), Array(10).fill('v2'));
    await settle();
    assert.deepEqual(events, ['step:0', 'verdict:0:pass', 'step:1', 'verdict:1:pass', 'done:promoted']);
  });

  it('shares the rest among the other subsets in proportion to their weights before the rollout', () => {
    const split = offlineSplit({ a: 60, b: 20, c: 0 }, ['a', 'b', 'c']);
    const rollout = startRollout(split, {
      subset: 'c',
      steps: [10, 50],
      intervalMs: 60_000,
      analysis: { maxErrorRate: 0 },
    });
    assert.deepEqual(rollout.plan, [
      { step: 0, percent: 10, weights: { a: 67.5, b: 22.5, c: 10 } },
      { step: 1, percent: 50, weights: { a: 37.5, b: 12.5, c: 50 } },
    ]);
    split.close();
    assert.equal(rollout.state, 'done');
  });

  it('holds the step while paused and judges a fresh interval after resume()', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 1, v2: 0 });
    const clock = new FakeClock();
    const rollout = startRollout(split, fast({ minCalls: 1 }, 50, clock));
    const events = recordEvents(rollout);
    rollout.pause();
    assert.equal(rollout.state, 'paused');
    assert.deepEqual(clock.pending, [], 'a paused rollout holds no timer');
    // Calls and time while paused: neither is judged.
    assert.deepEqual((await makeCalls(client, 20)).counts, { v1: 18, v2: 2 });
    clock.advance(1_000);
    await settle();
    assert.deepEqual(events, ['step:0']);
    assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    rollout.resume();
    rollout.resume(); // no-op while running
    assert.equal(rollout.state, 'running');
    assert.deepEqual(clock.pending, [50], 'one full interval after resume()');
    assert.deepEqual((await makeCalls(client, 10)).counts, { v1: 9, v2: 1 });
    clock.advance(50);
    await settle();
    assert.deepEqual(events, ['step:0', 'verdict:0:pass', 'step:1']);
    assert.deepEqual((await makeCalls(client, 2)).counts, { v1: 1, v2: 1 });
    clock.advance(50);
    const result = await rollout.done;
    assert.equal(result.outcome, 'promoted', result.reason);
    assert.deepEqual(
      result.history.map((s) => s.figures.calls),
      [1, 1],
      'the calls made while paused are not in the first window',
    );
    assert.equal(result.durationMs, 1_100);
    rollout.pause(); // no-op once done
    assert.equal(rollout.state, 'done');
  });

  it('abort() restores the weights from before the rollout', async (t) => {
    const { split } = await rolloutRig(t, { v1: 3, v2: 1 });
    const rollout = startRollout(split, fast({}, 60_000, new FakeClock()));
    await once(rollout, 'step');
    assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    const result = await rollout.abort();
    assert.deepEqual([result.outcome, result.reason, result.history], ['aborted', 'aborted by abort()', []]);
    assert.deepEqual(split.getWeights(), { v1: 3, v2: 1 });
    assert.equal(await rollout.abort('again'), result, 'abort() is idempotent');
  });

  it('is aborted by a manual setWeights(), whose weights stay in force', async (t) => {
    const { split } = await rolloutRig(t, { v1: 1, v2: 0 });
    const rollout = startRollout(split, fast({}, 60_000, new FakeClock()));
    split.setWeights({ v1: 70, v2: 30 });
    const result = await rollout.done;
    assert.equal(result.outcome, 'aborted');
    assert.equal(result.reason, 'weights changed outside the rollout to {"v1":70,"v2":30}; they stay in force');
    assert.deepEqual(split.getWeights(), { v1: 70, v2: 30 });
    assert.equal(activeRollout(split), undefined);
  });

  it('is aborted when the split closes', async () => {
    const split = offlineSplit({ v1: 1, v2: 0 });
    const rollout = startRollout(split, fast({}, 60_000, new FakeClock()));
    split.close();
    const result = await rollout.done;
    assert.deepEqual([result.outcome, result.reason], ['aborted', 'split "split" was closed']);
  });

  it('allows one rollout per split at a time', () => {
    const split = offlineSplit({ v1: 1, v2: 0 });
    const first = startRollout(split, fast({}, 60_000, new FakeClock()));
    assert.throws(() => startRollout(split, fast()), {
      name: 'TrafficSplitRolloutError',
      code: 'ERR_SPLIT_ROLLOUT_RUNNING',
      message: 'split "split" already has a rollout of "v2" running (step 1 of 2); abort it or wait for it to end',
    });
    assert.throws(() => startRollout(split, fast()), TrafficSplitRolloutError);
    void first.abort();
    const second = startRollout(split, fast({}, 60_000, new FakeClock()));
    assert.equal(activeRollout(split), second);
    split.close();
    assert.throws(() => startRollout(split, fast()), TrafficSplitClosedError);
  });

  it('waits at most maxWaitIntervals for minCalls, then rolls back', async () => {
    const split = offlineSplit({ v1: 1, v2: 0 });
    const clock = new FakeClock();
    const rollout = startRollout(split, fast({ minCalls: 5, maxWaitIntervals: 2 }, 30, clock));
    const events = recordEvents(rollout);
    for (const expected of [
      ['step:0', 'wait:0'],
      ['step:0', 'wait:0', 'wait:0'],
    ]) {
      clock.advance(30);
      await settle();
      assert.deepEqual(events, expected);
    }
    assert.equal(rollout.state, 'running');
    clock.advance(30);
    const result = await rollout.done;
    assert.equal(result.durationMs, 90);
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(result.reason, 'step 1 (10%): too few calls: 0 of minCalls 5 after 2 extra intervals');
    assert.equal(result.history[0]!.figures.waitedIntervals, 2);
    assert.equal(result.history[0]!.figures.periodMs, 90, 'the window grew over three intervals');
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 0 });
    await settle();
    assert.deepEqual(events, ['step:0', 'wait:0', 'wait:0', 'verdict:0:fail', 'done:rolled-back']);
    split.close();
  });

  it('rolls back before minCalls when the failures alone exceed the budget of minCalls calls', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 1, v2: 0 }, { v2FailsWith: grpc.status.UNAVAILABLE });
    const clock = new FakeClock();
    const rollout = startRollout(split, fast({ minCalls: 1000, maxErrorRate: 0.001 }, 150, clock));
    // 2 failures: more than the 1 that 0.1% of 1000 calls allows.
    assert.deepEqual((await makeCalls(client, 20)).counts, { v1: 18, 'error:14': 2 });
    clock.advance(150);
    const result = await rollout.done;
    assert.equal(result.outcome, 'rolled-back');
    const { calls, failures, waitedIntervals } = result.history[0]!.figures;
    assert.deepEqual([calls, failures, waitedIntervals], [2, 2, 0]);
    assert.equal(
      result.reason,
      'step 1 (10%): error rate over budget before minCalls: 2 of 2 calls failed, more than 0.1% of 1000 calls allows',
    );
    assert.equal(result.durationMs, 150);
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 0 });
  });

  it('rolls back on a p99 latency above maxP99Ms', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 1, v2: 0 });
    const clock = new FakeClock();
    const rollout = startRollout(split, fast({ minCalls: 1, maxP99Ms: 20 }, 200, clock));
    // v2's server waits 40 ms (real time) before each answer: a load can only lengthen that.
    const traffic = await makeCalls(client, 40, { request: { slowServer: 'v2', delayMs: 40 }, concurrency: 4 });
    assert.equal(traffic.counts['v2'], 4);
    clock.advance(200);
    const result = await rollout.done;
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(result.history[0]!.figures.calls, 4);
    assert.match(result.reason, /^step 1 \(10%\): p99 \d+(\.\d+)? ms > 20 ms$/);
    assert.ok(result.history[0]!.figures.p99Ms! >= 36, `p99 ${result.history[0]!.figures.p99Ms}`);
  });

  for (const [name, judge, reason] of [
    ['answers a reason string', () => 'error budget spent', 'judge: error budget spent'],
    ['answers false', async () => false, 'judge failed the step'],
    [
      'throws',
      () => {
        throw new Error('boom');
      },
      'judge threw: boom',
    ],
    ['does not answer in time', () => new Promise<boolean>(() => {}), 'judge did not answer within 30 ms'],
    [
      'answers a wrong type',
      () => 1 as unknown as boolean,
      'judge answered `1` (number); expected true, false or a reason string',
    ],
  ] as const) {
    it(`rolls back when the judge ${name}`, async () => {
      const split = offlineSplit({ v1: 1, v2: 0 });
      const clock = new FakeClock();
      const rollout = startRollout(split, fast({ minCalls: 0, judge, judgeTimeoutMs: 30 }, 20, clock));
      clock.advance(20);
      // Every judge here settles within microtasks, except the silent one, which the timeout ends.
      await settle();
      const silent = name === 'does not answer in time';
      assert.equal(rollout.state, silent ? 'running' : 'done');
      if (silent) {
        assert.deepEqual(clock.pending, [30]);
        clock.advance(29);
        await settle();
        assert.equal(rollout.state, 'running');
        clock.advance(1);
      }
      const result = await rollout.done;
      assert.deepEqual([result.outcome, result.reason], ['rolled-back', `step 1 (10%): ${reason}`]);
      assert.equal(result.durationMs, silent ? 50 : 20);
      assert.deepEqual(clock.pending, []);
      split.close();
    });
  }

  it('gives the judge the step and its figures, and promotes when it answers true', async () => {
    const split = offlineSplit({ v1: 1, v2: 0 });
    const seen: string[] = [];
    const clock = new FakeClock();
    const rollout = startRollout(
      split,
      fast(
        {
          minCalls: 0,
          judge: (s) => (
            seen.push(`${s.step}:${s.percent}:${s.subset}:${s.figures.calls}:${Object.keys(s.splitStats.subsets)}`),
            true
          ),
        },
        20,
        clock,
      ),
    );
    clock.advance(20);
    await settle();
    assert.deepEqual(seen, ['0:10:v2:0:v1,v2']);
    assert.deepEqual(clock.pending, [20], 'step 2 armed once the judge passed step 1');
    clock.advance(20);
    const result = await rollout.done;
    assert.equal(result.durationMs, 40);
    assert.equal(result.outcome, 'promoted');
    assert.deepEqual(seen, ['0:10:v2:0:v1,v2', '1:50:v2:0:v1,v2']);
    assert.equal(result.history[0]!.reason, 'error rate 0% (0 of 0 calls) <= 5%; judge passed');
    split.close();
  });

  const invalid: [string, unknown, string, typeof TrafficSplitTypeError | typeof TrafficSplitRangeError][] = [
    [
      'non-object',
      undefined,
      'options: expected an object with "subset", "steps", "intervalMs" and "analysis", got undefined',
      TrafficSplitTypeError,
    ],
    [
      'unknown-key',
      { ...fast(), step: [1] },
      'step: unknown option (known: subset, steps, intervalMs, analysis, ' +
        'clock, baseline, shadow, allowStepsBelowOnePercent, methods), got `[1]` (array)',
      TrafficSplitTypeError,
    ],
    [
      'unknown-subset',
      { ...fast(), subset: 'v3' },
      'subset: expected one of the subsets v1, v2, got `"v3"` (string)',
      TrafficSplitTypeError,
    ],
    [
      'no-steps',
      { ...fast(), steps: [] },
      'steps: expected a list of 1 to 100 percentages such as [10, 50], got `[]` (array)',
      TrafficSplitTypeError,
    ],
    [
      'string-step',
      { ...fast(), steps: ['10'] },
      'steps[0]: expected a percentage above 0 and at most 100, got `"10"` (string)',
      TrafficSplitTypeError,
    ],
    [
      'zero-step',
      { ...fast(), steps: [0, 10] },
      'steps[0]: expected a percentage above 0 and at most 100, got `0` (number)',
      TrafficSplitRangeError,
    ],
    [
      'fraction-steps',
      { ...fast(), steps: [0.1, 0.5] },
      'steps[0]: expected a percentage from 1 to 100, got `0.1` (number): steps are percentages, not fractions ' +
        '([10, 50] is 10% then 50%); for a step below 1% on purpose, set allowStepsBelowOnePercent: true',
      TrafficSplitRangeError,
    ],
    [
      'string-allow-below-one',
      { ...fast(), allowStepsBelowOnePercent: 'yes' },
      'allowStepsBelowOnePercent: expected a boolean, got `"yes"` (string)',
      TrafficSplitTypeError,
    ],
    [
      'decreasing-steps',
      { ...fast(), steps: [10, 5] },
      'steps[1]: expected a percentage above the previous step (10), got `5` (number)',
      TrafficSplitRangeError,
    ],
    [
      'zero-interval',
      { ...fast(), intervalMs: 0 },
      'intervalMs: expected an integer from 1 to 2147483647, got `0` (number)',
      TrafficSplitRangeError,
    ],
    [
      'no-analysis',
      { ...fast(), analysis: undefined },
      'analysis: expected an object with at least "maxErrorRate", got undefined',
      TrafficSplitTypeError,
    ],
    [
      'analysis-typo',
      fast({ maxErrorrate: 1 } as object),
      'analysis.maxErrorrate: unknown option (known: maxErrorRate, failureCodes, maxP99Ms, minCalls, ' +
        'maxWaitIntervals, judge, judgeTimeoutMs, baseline, confidence, maxErrorRateIncrease, maxLatencyRatio, stratify, sequential), got ' +
        '`1` (number)',
      TrafficSplitTypeError,
    ],
    [
      'error-rate-above-1',
      fast({ maxErrorRate: 5 }),
      'analysis.maxErrorRate: expected a number from 0 to 1, got `5` (number)',
      TrafficSplitRangeError,
    ],
    [
      'bad-code',
      fast({ failureCodes: ['OOPS' as 'OK'] }),
      'analysis.failureCodes[0]: expected a gRPC status code name ' +
        '(such as "INTERNAL") or number (0 to 16), got `"OOPS"` (string)',
      TrafficSplitTypeError,
    ],
    [
      'negative-min-calls',
      fast({ minCalls: -1 }),
      'analysis.minCalls: expected an integer from 0 to 1000000000, got `-1` (number)',
      TrafficSplitRangeError,
    ],
    [
      'zero-p99',
      fast({ maxP99Ms: 0 }),
      'analysis.maxP99Ms: expected a number of milliseconds > 0, got `0` (number)',
      TrafficSplitRangeError,
    ],
    [
      'clock-not-object',
      { ...fast(), clock: 5 },
      'clock: expected an object with now(), setTimeout() and clearTimeout() methods, got `5` (number)',
      TrafficSplitTypeError,
    ],
    [
      'clock-without-method',
      { ...fast(), clock: { now: () => 0, setTimeout: () => ({}) } },
      'clock.clearTimeout: expected a function, got undefined',
      TrafficSplitTypeError,
    ],
    [
      'judge-not-function',
      fast({ judge: 'yes' as unknown as () => boolean }),
      'analysis.judge: expected a function (step) => boolean | ' +
        'string | Promise<boolean | string>, got `"yes"` (string)',
      TrafficSplitTypeError,
    ],
  ];
  for (const [name, options, message, type] of invalid) {
    it(`rejects ${name} options and changes nothing`, () => {
      const split = offlineSplit({ v1: 1, v2: 0 });
      assert.throws(
        () => startRollout(split, options as RolloutOptions),
        (error: Error) => {
          assert.ok(error instanceof type, `${error.name}: ${error.message}`);
          assert.equal(error.message, message);
          return true;
        },
      );
      assert.deepEqual(split.getWeights(), { v1: 1, v2: 0 });
      assert.equal(activeRollout(split), undefined);
      split.close();
    });
  }

  it('refuses to roll out a subset that already has all the traffic', () => {
    const split = offlineSplit({ v1: 0, v2: 1 });
    assert.throws(() => startRollout(split, fast()), {
      name: 'TrafficSplitRangeError',
      message:
        'subset: expected a subset that does not already have all ' +
        'the traffic (weights {"v1":0,"v2":1}), got `"v2"` (string)',
    });
    split.close();
  });

  it('keeps the process alive while a rollout runs, and not after it ends', async () => {
    const { code, signal, stdout } = await runFixture('rollout-exit');
    assert.equal(signal, null, `the process had to be killed; output: ${stdout}`);
    assert.equal(code, 0);
    assert.equal(stdout, 'promoted {"v1":0,"v2":100}\n');
  });
});

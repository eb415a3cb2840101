import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { callEcho, type EchoRequest } from './helpers/echo-service.js';
import { FakeClock } from './helpers/fake-clock.js';
import { mirrorRig, plainAnswer, type Answer } from './helpers/mirror-rig.js';
import { eventually } from './helpers/split-helpers.js';
import { TrafficSplitRangeError, TrafficSplitTypeError, type TrafficSplit } from '../src/index.js';
import { startRollout } from '../src/ops/index.js';
import { type RolloutOptions, type RolloutStepPlan } from '../src/ops/index.js';

const SHADOW_MS = 1_000;

/** A rollout of v2 with a shadow phase, on `clock`. */
const withShadow = (
  clock: FakeClock,
  shadow: Partial<NonNullable<RolloutOptions['shadow']>> = {},
): RolloutOptions => ({
  subset: 'v2',
  steps: [10, 50],
  intervalMs: 500,
  analysis: { maxErrorRate: 0.01, minCalls: 1 },
  shadow: { percent: 50, intervalMs: SHADOW_MS, minCalls: 20, ...shadow },
  clock,
});

/** Makes `calls` calls and waits until every copy they caused is accounted for. */
async function traffic(split: TrafficSplit, client: Parameters<typeof callEcho>[0], calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
  await eventually(
    () => {
      const mirror = split.stats().mirror!;
      return mirror.inFlight === 0 && mirror.completed === mirror.sent;
    },
    () => JSON.stringify(split.stats().mirror),
  );
}

describe('rollout with a shadow phase', () => {
  it('rolls back a version that answers differently before any real call reaches it', async (t) => {
    const differs = (request: EchoRequest): Answer => ({
      reply: { text: Number(request.text!.slice(4)) % 4 === 0 ? 'changed' : request.text },
    });
    const { split, client, v2 } = await mirrorRig(t, differs);
    const clock = new FakeClock();
    const rollout = startRollout(split, withShadow(clock));
    assert.deepEqual([rollout.toJSON().phase, split.getWeights()], ['shadow', { v1: 100, v2: 0 }]);
    assert.equal(split.getMirror()!.percent, 50);
    await traffic(split, client, 40);
    clock.advance(SHADOW_MS);
    const result = await rollout.done;
    const mirror = split.stats().mirror!;
    const differing = v2.received.filter((r) => Number(r.text!.slice(4)) % 4 === 0).length;
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(
      result.reason,
      `shadow phase (50% copied): mismatch rate ${Math.round((differing / 20) * 10000) / 100}% ` +
        `(${differing} of 20 compared copies) > 0%`,
    );
    assert.deepEqual(result.shadow!.figures, {
      periodMs: SHADOW_MS,
      copies: 20,
      failed: 0,
      failureRate: 0,
      matched: 20 - differing,
      mismatched: differing,
      mismatchRate: differing / 20,
      dropped: 0,
      waitedIntervals: 0,
    });
    assert.equal(result.shadow!.samples.length, differing);
    assert.deepEqual(result.history, []);
    assert.deepEqual(result.weights, { v1: 100, v2: 0 });
    // Not one real call on v2: its server saw the 20 copies only.
    assert.equal(split.stats().subsets['v2']!.started, 0);
    assert.equal(v2.received.length, 20);
    assert.equal(split.getMirror(), null, 'the mirror from before the rollout (none) is back');
    assert.equal(mirror.active, false);
    assert.deepEqual(clock.pending, []);
  });

  it('rolls back when the copies fail, and waits for minCalls first', async (t) => {
    const { split, client } = await mirrorRig(t, () => ({ code: 13, details: 'v2 is broken' }));
    const clock = new FakeClock();
    const rollout = startRollout(split, withShadow(clock, { minCalls: 10 }));
    await traffic(split, client, 10); // 5 copies: too few
    const waited = once(rollout, 'wait');
    clock.advance(SHADOW_MS);
    assert.deepEqual((await waited)[0], { step: -1, calls: 5, minCalls: 10, waited: 1, maxWaitIntervals: 3 });
    await traffic(split, client, 10);
    clock.advance(SHADOW_MS);
    const result = await rollout.done;
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(result.reason, 'shadow phase (50% copied): failure rate 100% (10 of 10 copies) > 1%');
    assert.equal(split.stats().subsets['v2']!.started, 0);
  });

  it(
    'goes on to the weight steps after a shadow phase onto an ' +
      'identical version, and restores the mirror it replaced',
    async (t) => {
      const { split, client } = await mirrorRig(t, plainAnswer);
      split.setMirror({ subset: 'v2', percent: 1, maxInFlight: 7 });
      const clock = new FakeClock();
      const rollout = startRollout(split, withShadow(clock));
      assert.equal(split.getMirror()!.percent, 50);
      await traffic(split, client, 40);
      const stepped = once(rollout, 'step') as Promise<[RolloutStepPlan]>;
      clock.advance(SHADOW_MS);
      const [step] = await stepped;
      assert.deepEqual(step, { step: 0, percent: 10, weights: { v1: 90, v2: 10 } });
      const status = rollout.toJSON();
      assert.deepEqual(
        [status.phase, status.shadow!.verdict, status.shadow!.reason],
        ['steps', 'pass', 'mismatch rate 0% (0 of 20 compared copies) <= 0%; failure rate 0% (0 of 20 copies) <= 1%'],
      );
      assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
      assert.deepEqual(split.getMirror(), {
        subset: 'v2',
        percent: 1,
        compare: false,
        maxInFlight: 7,
        timeoutMs: null,
        methods: null,
        keepBodies: false,
        maxSamples: 20,
        maxBufferedBytes: 16 * 1024 * 1024,
      });
      assert.deepEqual(clock.pending, [500], 'the first step is timed');
      await rollout.abort('test done');
    },
  );

  it(
    'aborts when the mirror is changed during the shadow phase, and ' +
      'refuses a shadow phase onto a subset that already has traffic',
    async (t) => {
      const { split } = await mirrorRig(t);
      const clock = new FakeClock();
      const rollout = startRollout(split, withShadow(clock));
      split.setMirror(null);
      const result = await rollout.done;
      assert.deepEqual(
        [result.outcome, result.reason],
        ['aborted', "mirror changed outside the rollout's shadow phase to null; it stays in force"],
      );
      assert.equal(split.getMirror(), null);
      split.setWeights({ v1: 90, v2: 10 });
      assert.throws(
        () => startRollout(split, withShadow(clock)),
        (e: unknown) =>
          e instanceof TrafficSplitRangeError &&
          e.message ===
            'subset: expected a subset at weight 0 when a rollout with a shadow ' +
              'phase starts (weights {"v1":90,"v2":10}), got `"v2"` (string)',
      );
      assert.throws(
        () => startRollout(split, { ...withShadow(clock), shadow: { percent: 0 } }),
        (e: unknown) =>
          e instanceof TrafficSplitTypeError &&
          e.message === 'shadow.percent: expected a percentage above 0 and at most 100, got `0` (number)',
      );
      assert.throws(() => startRollout(split, { ...withShadow(clock), shadow: { percent: 10, maxMismatchRate: 2 } }), {
        message: 'shadow.maxMismatchRate: expected a finite number from 0 to 1, got `2` (number)',
      });
      assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    },
  );
});

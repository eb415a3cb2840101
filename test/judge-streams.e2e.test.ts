/**
 * Streams are judged on their time to first message, never on their lifetime. The servers pace
 * their streams with timers of their own (hundreds of milliseconds against none), so no verdict
 * here rests on the speed of the test machine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { judgeCanary, startRollout, type RolloutStepRecord } from '../src/ops/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { watchShop, type ShopClientInstance, type ShopRequest } from './helpers/shop-service.js';
import { shopRig } from './helpers/shop-rig.js';

/** `count` Watch streams, 10 at a time, each read to its end. */
async function watches(client: ShopClientInstance, count: number, request: ShopRequest): Promise<void> {
  for (let i = 0; i < count; i += 10)
    await Promise.all(Array.from({ length: Math.min(10, count - i) }, () => watchShop(client, request)));
}

describe('streams judged against a baseline', () => {
  it('rolls back a v2 whose first message comes 200 ms later, sequentially and at the step`s end', async (t) => {
    for (const sequential of [true, false]) {
      const { split, client } = await shopRig(t, { v1: 100, v2: 0 });
      const clock = new FakeClock();
      const rollout = startRollout(split, {
        subset: 'v2',
        steps: [50],
        intervalMs: 300_000,
        analysis: { baseline: 'v1', sequential, minCalls: 10 },
        clock,
      });
      await watches(client, 80, { count: 2, firstDelayMs: 200, slowServer: 'v2' });
      if (!sequential) clock.advance(300_000);
      const result = await rollout.done;
      assert.equal(result.outcome, 'rolled-back', result.reason);
      const record: RolloutStepRecord | undefined = result.history[0];
      if (sequential) {
        assert.equal(record!.sequential?.metric, 'time to first message', result.reason);
        assert.match(result.reason, /sequential latency test/);
      } else {
        assert.match(result.reason, /^step 1 \(50%\): latency: v2 median \d+(\.\d+)? ms vs v1 /);
        assert.ok(record!.comparison!.canary.p50Ms! >= 180, JSON.stringify(record!.comparison!.canary));
      }
    }
  });

  it('does not judge slower a v2 whose streams live long but answer at once', async (t) => {
    const { split, client } = await shopRig(t, { v1: 100, v2: 0 });
    // v2's streams last 3 x 150 ms; v1's end at once. Both send their first message at once.
    const long = (server: string): ShopRequest => ({ count: 3, intervalMs: server === 'v2' ? 150 : 0 });
    const pinned = (server: string) => split.route({ subset: server });
    for (let i = 0; i < 3; i++)
      await Promise.all(
        ['v1', 'v2'].flatMap((server) =>
          Array.from({ length: 10 }, () => watchShop(client, long(server), new grpc.Metadata(), pinned(server))),
        ),
      );
    const window = split.stats();
    const v2 = window.subsets['v2']!;
    const v1 = window.subsets['v1']!;
    assert.equal(v2.streams!.finished, 30);
    assert.ok(v2.latencyMs.p50! >= 280, `v2 streams live ${v2.latencyMs.p50} ms`);
    const options = { names: ['v2', 'v1'] as const, confidence: 0.999, maxLatencyRatio: 2 };
    const byFirstAnswer = judgeCanary(v2, v1, options);
    assert.equal(byFirstAnswer.verdict, 'pass', byFirstAnswer.reason);
    // Judged on lifetimes (figures without the stream figures), the same streams would fail.
    const lifetimes = (s: typeof v1) => ({
      finished: s.finished,
      codes: s.codes,
      latencyHistogram: s.latencyHistogram,
    });
    const byLifetime = judgeCanary(lifetimes(v2), lifetimes(v1), options);
    assert.equal(byLifetime.verdict, 'fail', byLifetime.reason);
  });
});

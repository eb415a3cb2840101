import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRollout, type Rollout } from '../src/ops/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { callShop, type ShopClientInstance } from './helpers/shop-service.js';
import { shopRig } from './helpers/shop-rig.js';

const INTERNAL = 13;
/** Steps of 5 minutes on a clock the test never moves: only the sequential judge ends a step. */
const FIVE_MINUTES = 300_000;

/**
 * Calls Read, `concurrency` at a time, until the rollout is done or `limit` calls were made;
 * `failOnV2(i)` makes call i fail on v2. Returns the calls made before the rollout ended.
 */
async function drive(
  client: ShopClientInstance,
  rollout: Rollout,
  limit: number,
  failOnV2: (i: number) => boolean = () => false,
  concurrency = 4,
): Promise<number> {
  let made = 0;
  let doneAt = -1;
  void rollout.done.then(() => (doneAt = made));
  const worker = async () => {
    while (doneAt < 0 && made < limit) {
      const i = made++;
      const request = failOnV2(i) ? { failWith: INTERNAL, failOn: 'v2' } : {};
      await callShop(client, 'read', request).catch(() => null);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return doneAt < 0 ? made : doneAt;
}

describe('a rollout judged sequentially', () => {
  it('rolls back a v2 failing 30% of calls at a 10% step long before the step ends, naming the test', async (t) => {
    const { split, client } = await shopRig(t, { v1: 100, v2: 0 });
    const rollout = startRollout(split, {
      subset: 'v2',
      steps: [10, 50],
      intervalMs: FIVE_MINUTES,
      analysis: { baseline: 'v1', sequential: true },
      clock: new FakeClock(),
    });
    // 1,000 calls are 5 s of traffic at 200 calls/s.
    const calls = await drive(client, rollout, 1_000, (i) => i % 10 < 3);
    const result = await Promise.race([rollout.done, Promise.resolve(null)]);
    assert.ok(result !== null, `not rolled back after ${calls} calls`);
    assert.equal(result.outcome, 'rolled-back');
    assert.match(result.reason, /^step 1 \(10%\): .*sequential error-rate test/);
    const record = result.history[0]!;
    assert.equal(record.sequential?.decision, 'rollback');
    assert.equal(record.sequential?.test, 'sequential error-rate test');
    assert.ok(calls < 1_000, `${calls} calls`);
    assert.deepEqual(split.getWeights(), { v1: 100, v2: 0 });
    t.diagnostic(`rolled back after ${calls} calls (${record.sequential?.calls?.canary} on v2)`);
  });

  it('promotes each step of identical versions early, never rolling back, in 5 runs', async (t) => {
    // Calls one at a time, as at 200 calls/s (a call every 5 ms) on loopback: no two overlap.
    const callsToPromote: number[] = [];
    for (let run = 0; run < 5; run++) {
      const { split, client } = await shopRig(t, { v1: 100, v2: 0 });
      const rollout = startRollout(split, {
        subset: 'v2',
        steps: [50],
        intervalMs: FIVE_MINUTES,
        analysis: { baseline: 'v1', sequential: true },
        clock: new FakeClock(),
      });
      const calls = await drive(client, rollout, 40_000, () => false, 1);
      const result = await rollout.done;
      assert.equal(result.outcome, 'promoted', `run ${run}: ${result.reason}`);
      assert.equal(result.history.length, 1);
      assert.equal(result.history[0]!.sequential?.decision, 'promote');
      assert.deepEqual(split.getWeights(), { v1: 0, v2: 100 });
      callsToPromote.push(calls);
    }
    const sorted = [...callsToPromote].sort((a, b) => a - b);
    t.diagnostic(
      `calls to promote: ${callsToPromote.join(', ')}; median ${sorted[2]} (${sorted[2]! / 200} s at 200 calls/s)`,
    );
  });
});

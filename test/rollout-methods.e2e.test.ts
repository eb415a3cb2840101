import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { TrafficSplit } from '../src/index.js';
import { startRollout, type Rollout, type RolloutStepRecord } from '../src/ops/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { callShop, SHOP, type ShopClientInstance, type ShopUnaryMethod } from './helpers/shop-service.js';
import { shopRig } from './helpers/shop-rig.js';

const INTERNAL = 13;

/** `count` calls of `method`, one at a time; where each went (`error` for a failure on v2). */
async function calls(client: ShopClientInstance, method: ShopUnaryMethod, count: number): Promise<string[]> {
  const servers: string[] = [];
  for (let i = 0; i < count; i++) {
    // List fails on v2 (INTERNAL); Read and Write answer everywhere.
    const request = method === 'list' ? { failWith: INTERNAL, failOn: 'v2' } : {};
    servers.push(
      await callShop(client, method, request).then(
        (reply) => reply.server,
        () => 'error',
      ),
    );
  }
  return servers;
}

/** Ends the step's interval and returns its verdict; fails (instead of hanging) if the step
 * waits for more calls. */
async function judged(rollout: Rollout, clock: FakeClock): Promise<RolloutStepRecord> {
  const verdict = once(rollout, 'verdict') as Promise<[RolloutStepRecord]>;
  const waited = once(rollout, 'wait').then(([wait]) => {
    throw new Error(`the step waits for more calls: ${JSON.stringify(wait)}`);
  });
  clock.advance(1_000);
  return (await Promise.race([verdict, waited]))[0];
}

describe('a rollout by methods', () => {
  it('raises v2 for Read only, never sends Write there, and judges Read calls alone', async (t) => {
    const clock = new FakeClock();
    // List already goes half to v2, where it fails: a rollout judging every call would roll back.
    const { split, client } = await shopRig(
      t,
      { v1: 100, v2: 0 },
      { methodWeights: { [SHOP.list]: { v1: 50, v2: 50 } } },
    );
    const rollout = startRollout(split, {
      subset: 'v2',
      methods: [SHOP.read],
      steps: [50],
      intervalMs: 1_000,
      analysis: { maxErrorRate: 0.05, minCalls: 10 },
      clock,
    });
    assert.deepEqual(split.getWeights(SHOP.read), { v1: 50, v2: 50 });
    assert.deepEqual(split.getWeights(), { v1: 100, v2: 0 });
    const reads = await calls(client, 'read', 40);
    const writes = await calls(client, 'write', 40);
    const lists = await calls(client, 'list', 40);
    assert.equal(reads.filter((s) => s === 'v2').length, 20);
    assert.deepEqual(new Set(writes), new Set(['v1']));
    assert.equal(lists.filter((s) => s === 'error').length, 20, 'List fails on v2 half the time');
    const record = await judged(rollout, clock);
    assert.equal(record.verdict, 'pass');
    assert.equal(record.figures.calls, 20, 'the Reads v2 answered, and nothing else');
    assert.equal(record.figures.failures, 0);
    const result = await rollout.done;
    assert.equal(result.outcome, 'promoted');
    // Promoted for Read only: the split's weights and List's override stay.
    assert.deepEqual(split.getMethodWeights(), { [SHOP.list]: { v1: 50, v2: 50 }, [SHOP.read]: { v1: 0, v2: 100 } });
    assert.deepEqual(split.getWeights(), { v1: 100, v2: 0 });
    assert.deepEqual(new Set(await calls(client, 'write', 10)), new Set(['v1']));
    assert.deepEqual(new Set(await calls(client, 'read', 10)), new Set(['v2']));
  });

  it('rolls back on its methods` failures, restoring their overrides as they were', async (t) => {
    const clock = new FakeClock();
    const before = { [SHOP.list]: { v1: 90, v2: 10 } };
    const { split, client } = await shopRig(t, { v1: 90, v2: 10 }, { methodWeights: before });
    const rollout = startRollout(split, {
      subset: 'v2',
      methods: [SHOP.list, SHOP.read],
      steps: [50],
      intervalMs: 1_000,
      analysis: { maxErrorRate: 0.05, minCalls: 10 },
      clock,
    });
    assert.deepEqual(split.getWeights(SHOP.list), { v1: 50, v2: 50 });
    await calls(client, 'list', 40);
    await judged(rollout, clock);
    const result = await rollout.done;
    assert.equal(result.outcome, 'rolled-back');
    assert.match(result.reason, /error rate/);
    // List's override as it was; Read, which had none, has none again.
    assert.deepEqual(split.getMethodWeights(), before);
  });

  it('refuses methods that do not share their weights, and methods beside a shadow phase', () => {
    const split = new TrafficSplit({
      subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' },
      weights: { v1: 100, v2: 0 },
      methodWeights: { [SHOP.list]: { v1: 90, v2: 10 } },
    });
    try {
      const base = { subset: 'v2', steps: [50], intervalMs: 1_000, analysis: { maxErrorRate: 0.05 } };
      assert.throws(
        () => startRollout(split, { ...base, methods: [SHOP.read, SHOP.list] }),
        /methods\[1\]: expected a method with the same weights as \/shop\.Store\/Read/,
      );
      assert.throws(
        () => startRollout(split, { ...base, methods: ['Read'] }),
        /methods\[0\]: expected a full method name/,
      );
      assert.throws(() => startRollout(split, { ...base, methods: [] }), /methods: expected a list of 1 to 100/);
      assert.deepEqual(split.getMethodWeights(), { [SHOP.list]: { v1: 90, v2: 10 } });
    } finally {
      split.close();
    }
  });
});

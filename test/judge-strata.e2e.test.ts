import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeCanary, type CanaryWindow } from '../src/ops/index.js';
import { shopRig } from './helpers/shop-rig.js';
import { callShop, SHOP, type ShopUnaryMethod } from './helpers/shop-service.js';

const INTERNAL = 13;

describe('the judge stratified by method', () => {
  it('rolls back a v2 whose rarely called List fails 20%, naming it, where the pooled judge passes it', async (t) => {
    const { split, client } = await shopRig(t, { v1: 50, v2: 50 });
    // 4,000 calls: List is 5% of them, and v2 fails every 5th List it receives (each method is
    // split 50/50 on its own, so v2 answers 100 Lists and fails 20 of them).
    const plan: ShopUnaryMethod[] = [];
    for (let i = 0; i < 4_000; i++) plan.push(i % 20 === 0 ? 'list' : i % 2 === 0 ? 'read' : 'write');
    const flaky = { failWith: INTERNAL, failOn: 'v2', failEvery: 5 };
    for (let i = 0; i < plan.length; i += 20) {
      await Promise.all(
        plan
          .slice(i, i + 20)
          .map((method) => callShop(client, method, method === 'list' ? flaky : {}).catch(() => null)),
      );
    }
    const window = split.stats();
    assert.equal(window.subsets['v2']!.methods![SHOP.list]!.finished, 100);
    assert.equal(window.subsets['v2']!.methods![SHOP.list]!.codes.INTERNAL, 20);
    assert.equal(window.subsets['v1']!.codes.INTERNAL, undefined);
    const options = { names: ['v2', 'v1'] as const, maxErrorRateIncrease: 0.02 };
    const pooled = judgeCanary(window.subsets['v2']!, window.subsets['v1']!, { ...options, stratify: false });
    const stratified = judgeCanary(window.subsets['v2']!, window.subsets['v1']!, options);
    assert.equal(pooled.verdict, 'pass', pooled.reason);
    assert.equal(pooled.stratified, null);
    assert.equal(stratified.verdict, 'fail', stratified.reason);
    assert.match(stratified.reason, /^errors of \/shop\.Store\/List: v2 /);
    assert.deepEqual(
      stratified.stratified!.errors.filter((test) => test.failed).map((test) => test.stratum),
      [SHOP.list],
    );
  });

  it('passes equal versions where v2 gets twice the share of a slow method, where the pooled judge alarms', () => {
    // What a rule sending half of the slow List calls to v2 leaves: v2 answers twice the Lists
    // v1 does, at the same latencies as v1 method by method.
    const fast: [number, number][] = [[1, 500]];
    const window = (lists: number): CanaryWindow => ({
      finished: 500 + lists,
      codes: { OK: 500 + lists },
      latencyHistogram: [
        [1, 500],
        [30, lists],
      ],
      methods: {
        [SHOP.read]: { finished: 500, codes: { OK: 500 }, latencyHistogram: fast },
        [SHOP.list]: { finished: lists, codes: { OK: lists }, latencyHistogram: [[30, lists]] },
      },
    });
    const v2 = window(600);
    const v1 = window(300);
    const pooled = judgeCanary(v2, v1, { names: ['v2', 'v1'], stratify: false });
    const stratified = judgeCanary(v2, v1, { names: ['v2', 'v1'] });
    assert.equal(pooled.verdict, 'fail', pooled.reason);
    assert.match(pooled.reason, /^latency: v2 median 30 ms vs v1 1 ms/);
    assert.equal(stratified.verdict, 'pass', stratified.reason);
    assert.match(stratified.reason, /^stratified by 2 methods: /);
  });
});

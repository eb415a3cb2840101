/**
 * The split's feed of answered attempts (`split.onCallEnded()`), the per-call hook of judges, on
 * real servers: one record per call, with the subset that answered, the method, the code and the
 * stream figures; a throwing listener isolated and reported once; nothing built per call while
 * no listener is attached; and a fleet handle giving its local split's feed.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type CallEnded, type SplitHandle } from '../src/index.js';
import { CallFeed } from '../src/policy/call/call-feed.js';
import { Fleet } from '../src/fleet/fleet.js';
import { startServer } from './helpers/servers.js';
import { callShop, SHOP, shopClient, watchShop, type ShopClientInstance } from './helpers/shop-service.js';
import { closeAfter, connect, waitForSubsetsReady } from './helpers/split-helpers.js';

async function rig(t: TestContext): Promise<{ split: TrafficSplit; shop: ShopClientInstance }> {
  const v1 = await startServer('v1');
  const v2 = await startServer('v2');
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 1, v2: 1 } });
  const shop = shopClient(split.target, split.channelOptions);
  closeAfter(t, shop, split, v1, v2);
  connect(shop);
  await waitForSubsetsReady(split);
  return { split, shop };
}

/** `n` calls of each kind: Read on v1 (one failing NOT_FOUND), Write on v2, Watch streams. */
async function someCalls(split: TrafficSplit, shop: ShopClientInstance, n: number): Promise<void> {
  const to = (subset: string) => split.route({ subset });
  const md = () => new grpc.Metadata();
  await Promise.all([
    ...Array.from({ length: n }, (_, i) =>
      callShop(shop, 'read', i === 0 ? { failWith: grpc.status.NOT_FOUND } : {}, md(), to('v1')).catch(() => null),
    ),
    ...Array.from({ length: n }, () => callShop(shop, 'write', {}, md(), to('v2'))),
    ...Array.from({ length: n }, () => watchShop(shop, { count: 3 }, md(), to('v2'))),
    watchShop(shop, { count: 1, failWith: grpc.status.INTERNAL }, md(), to('v1')),
    watchShop(shop, { count: 0 }, md(), to('v1')),
  ]);
}

/** A record as a line: subset, method, code, and which of its figures are there. */
function line(call: CallEnded): string {
  const has = (value: number | null) => (value === null ? '-' : '#');
  return [
    call.subset,
    call.method,
    grpc.status[call.code],
    call.streaming ? 'stream' : 'unary',
    `latency${has(call.latencyMs)}`,
    `messages:${call.messages ?? '-'}`,
    `first${has(call.firstMessageMs)}`,
    `gaps${has(call.maxGapMs)}${has(call.meanGapMs)}`,
  ].join(' ');
}

describe('the feed of answered attempts', () => {
  it('tells each call once, with the subset that answered, its method, code and stream figures', async (t) => {
    const { split, shop } = await rig(t);
    const told: CallEnded[] = [];
    const stop = split.onCallEnded((call) => told.push(call));
    await someCalls(split, shop, 3);
    const counts = new Map<string, number>();
    for (const call of told) counts.set(line(call), (counts.get(line(call)) ?? 0) + 1);
    assert.deepEqual(
      [...counts].sort(),
      [
        [`v1 ${SHOP.read} NOT_FOUND unary latency# messages:- first- gaps--`, 1],
        [`v1 ${SHOP.read} OK unary latency# messages:- first- gaps--`, 2],
        [`v1 ${SHOP.watch} INTERNAL stream latency- messages:1 first# gaps--`, 1],
        [`v1 ${SHOP.watch} OK stream latency- messages:0 first- gaps--`, 1],
        [`v2 ${SHOP.watch} OK stream latency- messages:3 first# gaps##`, 3],
        [`v2 ${SHOP.write} OK unary latency# messages:- first- gaps--`, 3],
      ].sort(),
    );
    // As `finished` counts them, per subset.
    const stats = split.stats();
    assert.deepEqual(
      [stats.subsets['v1']!.finished, stats.subsets['v2']!.finished],
      [told.filter((c) => c.subset === 'v1').length, told.filter((c) => c.subset === 'v2').length],
    );
    for (const call of told) {
      if (call.latencyMs !== null) assert.equal(call.latencyMs, call.durationMs);
      if (call.firstMessageMs !== null) assert.ok(call.firstMessageMs <= call.durationMs, JSON.stringify(call));
      if (call.maxGapMs !== null) assert.ok(call.meanGapMs! <= call.maxGapMs, JSON.stringify(call));
    }
    stop();
    stop();
    await someCalls(split, shop, 1);
    assert.equal(told.length, 11, 'nothing after the listener was removed');
  });

  it('isolates a listener that throws: every call succeeds, other listeners hear of each, it is reported once', async (t) => {
    const { split, shop } = await rig(t);
    const logged: string[] = [];
    grpc.setLogger({ error: (...args: unknown[]) => logged.push(args.join(' ')) } as unknown as Console);
    grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
    t.after(() => grpc.setLogger(console));
    let thrown = 0;
    split.onCallEnded(() => {
      thrown++;
      throw new Error('a judge with a bug');
    });
    const told: CallEnded[] = [];
    split.onCallEnded((call) => told.push(call));
    await someCalls(split, shop, 3);
    assert.deepEqual([thrown, told.length], [11, 11]);
    const reports = logged.filter((text) => text.includes('onCallEnded'));
    assert.equal(reports.length, 1, logged.join('\n'));
    assert.match(reports[0]!, /a judge with a bug/);
  });

  it('builds nothing per call while no listener is attached', async (t) => {
    const { split, shop } = await rig(t);
    const answered = t.mock.method(CallFeed.prototype, 'answered');
    await someCalls(split, shop, 2);
    assert.equal(answered.mock.callCount(), 0, 'no listener: the feed is never reached');
    const stop = split.onCallEnded(() => {});
    await someCalls(split, shop, 2);
    assert.equal(answered.mock.callCount(), 8);
    stop();
    await someCalls(split, shop, 2);
    assert.equal(answered.mock.callCount(), 8, 'removed: the feed is not reached again');
  });

  it("is, on a fleet handle, the local split's feed", () => {
    const listener = (): void => {};
    const stop = (): void => {};
    const given: unknown[] = [];
    const split = { onCallEnded: (l: unknown) => (given.push(l), stop) } as unknown as SplitHandle;
    assert.equal(Fleet.prototype.onCallEnded.call({ split } as unknown as Fleet, listener), stop);
    assert.deepEqual(given, [listener]);
  });
});

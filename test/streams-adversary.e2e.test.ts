import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';
import { feedClient, subscribe, type FeedClientInstance } from './helpers/stream-service.js';
import { startAdversaryServer, type AdversaryServer } from './helpers/stream-adversary-server.js';

interface Rig {
  v1: AdversaryServer;
  v2: AdversaryServer;
  split: TrafficSplit;
  client: FeedClientInstance;
}

async function rig(t: TestContext, weights: Record<string, number>, extra: Partial<TrafficSplitOptions>, methodConfig: object | null): Promise<Rig> {
  const v1 = await startAdversaryServer('v1', 3_000);
  const v2 = await startAdversaryServer('v2', 3_000);
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights, ...extra });
  const serviceConfig = methodConfig === null ? {} : { 'grpc.service_config': JSON.stringify({ methodConfig: [{ name: [{ service: 'test.Feed' }], ...methodConfig }] }) };
  const client = feedClient(split.target, split.withChannelOptions(serviceConfig));
  t.after(() => {
    client.close();
    split.close();
    v1.kill();
    v2.kill();
  });
  connect(client);
  await waitForSubsetsReady(split);
  return { v1, v2, split, client };
}

function open(split: TrafficSplit): Record<string, number> {
  const { subsets } = split.stats();
  return Object.fromEntries(Object.entries(subsets).map(([name, s]) => [name, s.openStreams]));
}

describe('long-lived streams under attack', () => {
  it('keeps the age limit of a stream whose retry starts after the limit fell due', async (t) => {
    const clock = new FakeClock();
    const retryPolicy = { maxAttempts: 2, initialBackoff: '0.01s', maxBackoff: '0.01s', backoffMultiplier: 1, retryableStatusCodes: ['UNAVAILABLE'] };
    const { v1, split, client } = await rig(t, { v1: 100, v2: 0 }, { clock, maxStreamAgeMs: 1_000 }, { retryPolicy });
    const s = subscribe(client, 'fail-once:a');
    t.after(() => s.call.cancel());
    // The first attempt is refused with a 3 s pushback: the stream waits for its retry, unplaced.
    await eventually(() => v1.attempts.get('fail-once:a') === 1 && open(split)['v1'] === 0, () => `${v1.attempts.get('fail-once:a')} ${JSON.stringify(open(split))}`);
    assert.equal(s.ended, null);
    clock.advance(1_000);
    assert.equal(await s.placed, 'v1');
    assert.equal(v1.attempts.get('fail-once:a'), 2);
    assert.deepEqual(open(split), { v1: 1, v2: 0 });
    // Past the limit: the stream must be ended now that it runs again.
    clock.advance(1_000);
    await eventually(() => s.ended !== null, () => `still open; timers ${JSON.stringify(clock.pending)}`);
    assert.equal(s.ended!.code, grpc.status.UNAVAILABLE);
    assert.equal(s.ended!.details, 'traffic_split: stream reached maxStreamAgeMs (1000 ms) on subset v1; open it again');
    await eventually(() => open(split)['v1'] === 0, () => JSON.stringify(open(split)));
    assert.equal(split.stats().subsets['v1']!.rebalanced, 1);
  });

  it('counts a hedged stream once while its first attempt carries it', async (t) => {
    const hedgingPolicy = { maxAttempts: 2, hedgingDelay: '0s', nonFatalStatusCodes: [] };
    const { v1, split, client } = await rig(t, { v1: 100, v2: 0 }, {}, { hedgingPolicy });
    const s = subscribe(client, 'hedge:a');
    t.after(() => s.call.cancel());
    assert.equal(await s.placed, 'v1');
    // Both attempts reached the server; the second, discarded, is cancelled.
    await eventually(() => v1.attempts.get('hedge:a') === 2 && v1.openCount() === 1, () => `${v1.attempts.get('hedge:a')} attempts, ${v1.openCount()} open`);
    assert.deepEqual(open(split), { v1: 1, v2: 0 });
    s.call.cancel();
    await eventually(() => open(split)['v1'] === 0, () => JSON.stringify(open(split)));
  });
});

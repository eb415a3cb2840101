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

  it('uncounts every stream however it ends, and never as rebalanced (cancel, status, deadline, GOAWAY, kill, closes)', async (t) => {
    const v1 = await startAdversaryServer('v1', 3_000, { 'grpc.max_connection_age_ms': 1_500, 'grpc.max_connection_age_grace_ms': 300 });
    const v2 = await startAdversaryServer('v2', 3_000);
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 50, v2: 50 } });
    const options = split.withChannelOptions({ 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 200 });
    const client = feedClient(split.target, options);
    const plain = feedClient(v2.target, { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 200 });
    t.after(() => {
      client.close();
      plain.close();
      split.close();
      v1.kill();
      v2.kill();
    });
    connect(client, plain);
    await waitForSubsetsReady(split);
    const codes: Record<string, number> = Object.create(null);
    const seen = (s: { ended: grpc.StatusObject | null }): void => {
      const name = grpc.status[s.ended!.code]!;
      codes[name] = (codes[name] ?? 0) + 1;
    };
    // Cancel, server status, deadline: 10 streams each, placed 5/5.
    const cancelled = Array.from({ length: 10 }, (_, i) => subscribe(client, `c${i}`, {}, seen));
    await Promise.all(cancelled.map((s) => s.placed));
    assert.deepEqual(open(split), { v1: 5, v2: 5 });
    for (const s of cancelled) s.call.cancel();
    await eventually(() => open(split)['v1'] === 0 && open(split)['v2'] === 0, () => JSON.stringify(open(split)));
    const failed = Array.from({ length: 10 }, (_, i) => subscribe(client, `status:${i}`, {}, seen));
    const timed = Array.from({ length: 10 }, (_, i) => subscribe(client, `d${i}`, { deadline: Date.now() + 500 }, seen));
    const plainTimed = subscribe(plain, 'pd', { deadline: Date.now() + 500 }, seen);
    await eventually(() => [...failed, ...timed, plainTimed].every((s) => s.ended !== null), () => JSON.stringify(codes), 10_000);
    assert.deepEqual(open(split), { v1: 0, v2: 0 });
    assert.deepEqual({ ...codes }, { CANCELLED: 10, INTERNAL: 10, DEADLINE_EXCEEDED: 11 });
    // GOAWAY on v1 (max connection age) and the kill of v2: every held stream ends by itself.
    const held = Array.from({ length: 10 }, (_, i) => subscribe(client, `h${i}`, {}, seen));
    const plainHeld = subscribe(plain, 'ph', {}, seen);
    await Promise.all([...held, plainHeld].map((s) => s.placed));
    assert.deepEqual(open(split), { v1: 5, v2: 5 });
    v2.kill();
    await eventually(() => held.every((s) => s.ended !== null) && plainHeld.ended !== null, () => `${JSON.stringify(open(split))} ${JSON.stringify(codes)}`, 10_000);
    assert.deepEqual(open(split), { v1: 0, v2: 0 });
    t.diagnostic(`after GOAWAY and kill: ${[...held, plainHeld].map((s) => `${s.id}@${s.server}:${grpc.status[s.ended!.code]} ${s.ended!.details}`).join('; ')}`);
    assert.equal(Object.values(codes).reduce((a, b) => a + b, 0), 42);
    // The channel closed, then split.close(): open streams stay open and counted until they end.
    await waitForSubsetsReady(split, ['v1']);
    const late = Array.from({ length: 4 }, (_, i) => subscribe(client, `l${i}`, {}, seen));
    await Promise.all(late.map((s) => s.placed));
    assert.deepEqual(open(split), { v1: 4, v2: 0 });
    client.close();
    split.close();
    assert.deepEqual(open(split), { v1: 4, v2: 0 });
    v1.kill();
    await eventually(() => late.every((s) => s.ended !== null), () => JSON.stringify(open(split)), 10_000);
    assert.deepEqual(open(split), { v1: 0, v2: 0 });
    const stats = split.stats().subsets;
    assert.deepEqual([stats['v1']!.rebalanced, stats['v2']!.rebalanced], [0, 0]);
    t.diagnostic(`codes ${JSON.stringify(codes)}`);
  });

  it('never counts a stream whose pick queued (no subset READY) and that ended before a pick', async (t) => {
    const dead = await startAdversaryServer('dead', 3_000);
    dead.kill();
    const split = new TrafficSplit({ subsets: { v1: dead.target, v2: dead.target }, weights: { v1: 90, v2: 10 } });
    const client = feedClient(split.target, split.withChannelOptions({ 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 200 }));
    t.after(() => {
      client.close();
      split.close();
    });
    const waitForReady = (): grpc.Metadata => {
      const metadata = new grpc.Metadata();
      metadata.setOptions({ waitForReady: true });
      return metadata;
    };
    const queued = Array.from({ length: 20 }, (_, i) => subscribe(client, `q${i}`, i % 2 === 0 ? { deadline: Date.now() + 300 } : {}, undefined, waitForReady()));
    assert.deepEqual(open(split), { v1: 0, v2: 0 });
    for (const [i, s] of queued.entries()) if (i % 2 === 1) s.call.cancel();
    await eventually(() => queued.every((s) => s.ended !== null), () => JSON.stringify(open(split)), 10_000);
    assert.deepEqual(queued.map((s) => s.ended!.code).sort(), [...Array(10).fill(grpc.status.CANCELLED), ...Array(10).fill(grpc.status.DEADLINE_EXCEEDED)].sort());
    assert.deepEqual(open(split), { v1: 0, v2: 0 });
  });
});

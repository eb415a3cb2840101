import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { connect, eventually, waitForSubsetsReady, closeAfter } from './helpers/split-helpers.js';
import { feedClient, subscribe, type FeedClientInstance } from './helpers/stream-service.js';
import { startAdversaryServer, type AdversaryServer } from './helpers/stream-adversary-server.js';
import { startFeedServer } from './helpers/stream-service.js';
import { Resubscriber, splitCounts, streamRig, type StreamRig } from './helpers/stream-rig.js';
import { quickRetryPolicy } from './helpers/service-config.js';

interface Rig {
  v1: AdversaryServer;
  v2: AdversaryServer;
  split: TrafficSplit;
  client: FeedClientInstance;
}

async function rig(
  t: TestContext,
  weights: Record<string, number>,
  extra: Partial<TrafficSplitOptions>,
  methodConfig: object | null,
): Promise<Rig> {
  const v1 = await startAdversaryServer('v1', 3_000);
  const v2 = await startAdversaryServer('v2', 3_000);
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights, ...extra });
  const serviceConfig =
    methodConfig === null
      ? {}
      : {
          'grpc.service_config': JSON.stringify({
            methodConfig: [{ name: [{ service: 'test.Feed' }], ...methodConfig }],
          }),
        };
  const client = feedClient(split.target, split.withChannelOptions(serviceConfig));
  closeAfter(t, client, split, v1, v2);
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
    const retryPolicy = quickRetryPolicy(2);
    const { v1, split, client } = await rig(t, { v1: 100, v2: 0 }, { clock, maxStreamAgeMs: 1_000 }, { retryPolicy });
    const s = subscribe(client, 'fail-once:a');
    t.after(() => s.call.cancel());
    // The first attempt is refused with a 3 s pushback: the stream waits for its retry, unplaced.
    await eventually(
      () => v1.attempts.get('fail-once:a') === 1 && open(split)['v1'] === 0,
      () => `${v1.attempts.get('fail-once:a')} ${JSON.stringify(open(split))}`,
    );
    assert.equal(s.ended, null);
    clock.advance(1_000);
    assert.equal(await s.placed, 'v1');
    assert.equal(v1.attempts.get('fail-once:a'), 2);
    assert.deepEqual(open(split), { v1: 1, v2: 0 });
    // Past the limit: the stream must be ended now that it runs again.
    clock.advance(1_000);
    await eventually(
      () => s.ended !== null,
      () => `still open; timers ${JSON.stringify(clock.pending)}`,
    );
    assert.equal(s.ended!.code, grpc.status.UNAVAILABLE);
    assert.equal(
      s.ended!.details,
      'traffic_split: stream reached maxStreamAgeMs (1000 ms) on subset v1; open it again',
    );
    await eventually(
      () => open(split)['v1'] === 0,
      () => JSON.stringify(open(split)),
    );
    assert.equal(split.stats().subsets['v1']!.rebalanced, 1);
  });

  it('counts a hedged stream once while its first attempt carries it', async (t) => {
    const hedgingPolicy = { maxAttempts: 2, hedgingDelay: '0s', nonFatalStatusCodes: [] };
    const { v1, split, client } = await rig(t, { v1: 100, v2: 0 }, {}, { hedgingPolicy });
    const s = subscribe(client, 'hedge:a');
    t.after(() => s.call.cancel());
    assert.equal(await s.placed, 'v1');
    // Both attempts reached the server; the second, discarded, is cancelled.
    await eventually(
      () => v1.attempts.get('hedge:a') === 2 && v1.openCount() === 1,
      () => `${v1.attempts.get('hedge:a')} attempts, ${v1.openCount()} open`,
    );
    assert.deepEqual(open(split), { v1: 1, v2: 0 });
    s.call.cancel();
    await eventually(
      () => open(split)['v1'] === 0,
      () => JSON.stringify(open(split)),
    );
  });

  it(
    'uncounts every stream however it ends, and never as ' +
      'rebalanced (cancel, status, deadline, GOAWAY, kill, closes)',
    async (t) => {
      const v1 = await startAdversaryServer('v1', 3_000, {
        'grpc.max_connection_age_ms': 1_500,
        'grpc.max_connection_age_grace_ms': 300,
      });
      const v2 = await startAdversaryServer('v2', 3_000);
      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 50, v2: 50 } });
      const options = split.withChannelOptions({
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 200,
      });
      const client = feedClient(split.target, options);
      const plain = feedClient(v2.target, {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 200,
      });
      closeAfter(t, client, plain, split, v1, v2);
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
      await eventually(
        () => open(split)['v1'] === 0 && open(split)['v2'] === 0,
        () => JSON.stringify(open(split)),
      );
      const failed = Array.from({ length: 10 }, (_, i) => subscribe(client, `status:${i}`, {}, seen));
      const timed = Array.from({ length: 10 }, (_, i) =>
        subscribe(client, `d${i}`, { deadline: Date.now() + 500 }, seen),
      );
      const plainTimed = subscribe(plain, 'pd', { deadline: Date.now() + 500 }, seen);
      await eventually(
        () => [...failed, ...timed, plainTimed].every((s) => s.ended !== null),
        () => JSON.stringify(codes),
        10_000,
      );
      assert.deepEqual(open(split), { v1: 0, v2: 0 });
      assert.deepEqual({ ...codes }, { CANCELLED: 10, INTERNAL: 10, DEADLINE_EXCEEDED: 11 });
      // GOAWAY on v1 (max connection age) and the kill of v2: every held stream ends by itself.
      const held = Array.from({ length: 10 }, (_, i) => subscribe(client, `h${i}`, {}, seen));
      const plainHeld = subscribe(plain, 'ph', {}, seen);
      await Promise.all([...held, plainHeld].map((s) => s.placed));
      assert.deepEqual(open(split), { v1: 5, v2: 5 });
      v2.kill();
      await eventually(
        () => held.every((s) => s.ended !== null) && plainHeld.ended !== null,
        () => `${JSON.stringify(open(split))} ${JSON.stringify(codes)}`,
        10_000,
      );
      assert.deepEqual(open(split), { v1: 0, v2: 0 });
      t.diagnostic(
        `after GOAWAY and kill: ${[...held, plainHeld].map((s) => `${s.id}@${s.server}:${grpc.status[s.ended!.code]} ${s.ended!.details}`).join('; ')}`,
      );
      assert.equal(
        Object.values(codes).reduce((a, b) => a + b, 0),
        42,
      );
      // The channel closed, then split.close(): open streams stay open and counted until they end.
      await waitForSubsetsReady(split, ['v1']);
      const late = Array.from({ length: 4 }, (_, i) => subscribe(client, `l${i}`, {}, seen));
      await Promise.all(late.map((s) => s.placed));
      assert.deepEqual(open(split), { v1: 4, v2: 0 });
      client.close();
      split.close();
      assert.deepEqual(open(split), { v1: 4, v2: 0 });
      v1.kill();
      await eventually(
        () => late.every((s) => s.ended !== null),
        () => JSON.stringify(open(split)),
        10_000,
      );
      assert.deepEqual(open(split), { v1: 0, v2: 0 });
      const stats = split.stats().subsets;
      assert.deepEqual([stats['v1']!.rebalanced, stats['v2']!.rebalanced], [0, 0]);
      t.diagnostic(`codes ${JSON.stringify(codes)}`);
    },
  );

  it('never counts a stream whose pick queued (no subset READY) and that ended before a pick', async (t) => {
    const dead = await startAdversaryServer('dead', 3_000);
    dead.kill();
    const split = new TrafficSplit({ subsets: { v1: dead.target, v2: dead.target }, weights: { v1: 90, v2: 10 } });
    const client = feedClient(
      split.target,
      split.withChannelOptions({ 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 200 }),
    );
    t.after(() => {
      client.close();
      split.close();
    });
    const waitForReady = (): grpc.Metadata => {
      const metadata = new grpc.Metadata();
      metadata.setOptions({ waitForReady: true });
      return metadata;
    };
    const queued = Array.from({ length: 20 }, (_, i) =>
      subscribe(client, `q${i}`, i % 2 === 0 ? { deadline: Date.now() + 300 } : {}, undefined, waitForReady()),
    );
    assert.deepEqual(open(split), { v1: 0, v2: 0 });
    for (const [i, s] of queued.entries()) if (i % 2 === 1) s.call.cancel();
    await eventually(
      () => queued.every((s) => s.ended !== null),
      () => JSON.stringify(open(split)),
      10_000,
    );
    assert.deepEqual(
      queued.map((s) => s.ended!.code).sort(),
      [...Array(10).fill(grpc.status.CANCELLED), ...Array(10).fill(grpc.status.DEADLINE_EXCEEDED)].sort(),
    );
    assert.deepEqual(open(split), { v1: 0, v2: 0 });
  });

  it('stops moving streams to a subset that dies mid-window, and finishes the move when it is back', async (t) => {
    const clock = new FakeClock();
    const v1 = await startFeedServer('v1');
    let v2 = await startFeedServer('v2');
    const split = new TrafficSplit({
      subsets: { v1: v1.target, v2: v2.target },
      weights: { v1: 90, v2: 10 },
      clock,
      scheduleSeed: 3,
      rebalanceStreams: { withinMs: 1_000 },
    });
    const client = feedClient(
      split.target,
      split.withChannelOptions({ 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 200 }),
    );
    // A closure, not closeAfter(): v2 is replaced by a new server during the test.
    t.after(() => {
      client.close();
      split.close();
      v1.kill();
      v2.kill();
    });
    connect(client);
    await waitForSubsetsReady(split);
    const rig = (): StreamRig => ({ v1, v2, split, client });
    const subscriber = new Resubscriber(client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
    await subscriber.settled(rig());
    assert.deepEqual(splitCounts(split), { v1: 18, v2: 2 });
    split.setWeights({ v1: 10, v2: 90 });
    // The first 4 of the 16 ends (one every 62.5 ms, the first at once).
    for (let k = 0; k < 4; k++) {
      const ends = subscriber.ends.length;
      clock.advance(Math.min(...clock.pending));
      await eventually(
        () => subscriber.ends.length === ends + 1,
        () => `${subscriber.ends.length}`,
      );
      await subscriber.settled(rig());
    }
    assert.deepEqual(splitCounts(split), { v1: 14, v2: 6 });
    v2.kill();
    await eventually(
      () => subscriber.counts().v1 === 20,
      () => JSON.stringify(subscriber.counts()),
      10_000,
    );
    await eventually(
      () => split.stats().subsets['v2']!.state !== 'READY',
      () => split.stats().subsets['v2']!.state,
    );
    const bySplit = (): number => subscriber.ends.filter((e) => e.details.startsWith('traffic_split:')).length;
    assert.equal(bySplit(), 4);
    // The rest of the window: nothing more is ended while v2 is down.
    clock.advance(1_000);
    assert.equal(bySplit(), 4);
    assert.deepEqual(splitCounts(split), { v1: 20, v2: 0 });
    assert.equal(split.stats().subsets['v1']!.rebalanced, 4);
    // v2 back on its port: the split owes it 18 of the 20 streams.
    v2 = await startFeedServer('v2', v2.port);
    await waitForSubsetsReady(split, ['v2'], 10_000);
    for (let step = 0; step < 100 && clock.pending.length > 0 && Math.min(...clock.pending) <= 1_000; step++) {
      const ends = subscriber.ends.length;
      clock.advance(Math.min(...clock.pending));
      await eventually(
        () => subscriber.ends.length >= ends,
        () => 'tick',
      );
      await subscriber.settled(rig());
    }
    await subscriber.settled(rig());
    assert.deepEqual(splitCounts(split), { v1: 2, v2: 18 });
    assert.equal(bySplit(), 4 + 18);
    assert.deepEqual(subscriber.unexpected, []);
    const stats = split.stats().subsets;
    assert.deepEqual(
      [stats['v1']!.rebalanced, stats['v2']!.rebalanced, stats['v2']!.codes.UNAVAILABLE ?? 0],
      [22, 0, 6],
    );
    subscriber.stop();
    await eventually(
      () => splitCounts(split).v1 + splitCounts(split).v2 === 0,
      () => JSON.stringify(splitCounts(split)),
    );
  });

  it(
    'withinMs 0 ends exactly what the change needs at once; the ' +
      'longest window ends one then waits; a change without it stops',
    async (t) => {
      const clock = new FakeClock();
      const rig = await streamRig(t, { v1: 90, v2: 10 }, { clock, scheduleSeed: 5 });
      const subscriber = new Resubscriber(rig.client, () => clock.now());
      t.after(() => subscriber.stop());
      for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
      await subscriber.settled(rig);
      rig.split.setWeights({ v1: 10, v2: 90 }, { rebalanceStreams: { withinMs: 0 } });
      const at = clock.now();
      clock.advance(0);
      await eventually(
        () => subscriber.ends.length === 16,
        () => `${subscriber.ends.length} ends`,
      );
      await subscriber.settled(rig);
      assert.deepEqual(splitCounts(rig.split), { v1: 2, v2: 18 });
      assert.ok(
        subscriber.ends.every(
          (e) => e.at === at && e.details === 'traffic_split: stream rebalanced to follow new weights (v1 -> v2)',
        ),
      );
      assert.equal(new Set(subscriber.ends.map((e) => e.id)).size, 16);
      clock.advance(1_000);
      assert.equal(subscriber.ends.length, 16);
      // The longest window: 16 streams to move back, one every 2147483647 / 16 ms, the first no sooner
      // than that after the last end (1 s ago).
      rig.split.setWeights({ v1: 90, v2: 10 }, { rebalanceStreams: { withinMs: 2_147_483_647 } });
      assert.deepEqual(
        clock.pending.filter((ms) => ms > 1e8),
        [2_147_483_647 / 16 - 1_000],
      );
      clock.advance(0);
      assert.equal(subscriber.ends.length, 16);
      // A change that says not to move streams stops the window.
      rig.split.setWeights({ v1: 80, v2: 20 }, { rebalanceStreams: false });
      assert.deepEqual(
        clock.pending.filter((ms) => ms > 1e8),
        [],
      );
      assert.deepEqual(subscriber.unexpected, []);
      assert.equal(rig.split.stats().subsets['v2']!.rebalanced, 0);
      assert.equal(rig.split.stats().subsets['v1']!.rebalanced, 16);
    },
  );

  it('maxStreamAgeMs 1 ends every keyless stream at each millisecond, never a routed one, and counts none twice', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(t, { v1: 50, v2: 50 }, { clock, maxStreamAgeMs: 1 });
    const pinned = subscribe(rig.client, 'pinned', rig.split.route({ subset: 'v1' }));
    assert.equal(await pinned.placed, 'v1');
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 10; i++) subscriber.open(`s${i}`);
    await eventually(
      () =>
        splitCounts(rig.split).v1 + splitCounts(rig.split).v2 === 11 &&
        [...subscriber.live.values()].every((s) => s.server !== null),
      () => JSON.stringify(splitCounts(rig.split)),
    );
    for (let round = 1; round <= 20; round++) {
      clock.advance(1);
      await eventually(
        () => subscriber.ends.length === 10 * round,
        () => `round ${round}: ${subscriber.ends.length} ends`,
      );
      await eventually(
        () =>
          splitCounts(rig.split).v1 + splitCounts(rig.split).v2 === 11 &&
          rig.v1.openIds().length + rig.v2.openIds().length === 11 &&
          [...subscriber.live.values()].every((s) => s.server !== null),
        () => JSON.stringify(splitCounts(rig.split)),
      );
    }
    assert.equal(pinned.ended, null);
    assert.ok(
      subscriber.ends.every((e) =>
        /^traffic_split: stream reached maxStreamAgeMs \(1 ms\) on subset v[12]; open it again$/.test(e.details),
      ),
    );
    const stats = rig.split.stats().subsets;
    assert.equal(stats['v1']!.rebalanced + stats['v2']!.rebalanced, 200);
    assert.equal((stats['v1']!.codes.UNAVAILABLE ?? 0) + (stats['v2']!.codes.UNAVAILABLE ?? 0), 0);
    // The 10 open streams hold one age timer each; the routed one none.
    assert.equal(clock.pending.filter((ms) => ms <= 1).length, 10);
    subscriber.stop();
    pinned.call.cancel();
    await eventually(
      () => pinned.ended !== null && [...subscriber.live.values()].every((s) => s.ended !== null),
      () => JSON.stringify(splitCounts(rig.split)),
    );
    assert.deepEqual(splitCounts(rig.split), { v1: 0, v2: 0 });
    // No record outlives its stream: every age timer went with it.
    assert.deepEqual(
      clock.pending.filter((ms) => ms <= 1),
      [],
    );
  });

  it('counts streams again from zero after the channel went IDLE (grpc.client_idle_timeout_ms) and reconnected', async (t) => {
    const v1 = await startFeedServer('v1');
    const v2 = await startFeedServer('v2');
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 50, v2: 50 } });
    const client = feedClient(split.target, split.withChannelOptions({ 'grpc.client_idle_timeout_ms': 1_000 }));
    closeAfter(t, client, split, v1, v2);
    connect(client);
    await waitForSubsetsReady(split);
    const channel = client.getChannel();
    for (let round = 0; round < 2; round++) {
      // Out of IDLE, streams opened before both subsets are READY all go to the first one up
      // (as unary calls would): wait, to count a placement over both.
      connect(client);
      await waitForSubsetsReady(split);
      const streams = Array.from({ length: 6 }, (_, i) => subscribe(client, `r${round}-${i}`));
      assert.deepEqual((await Promise.all(streams.map((s) => s.placed))).sort(), ['v1', 'v1', 'v1', 'v2', 'v2', 'v2']);
      assert.deepEqual(open(split), { v1: 3, v2: 3 });
      for (const s of streams) s.call.cancel();
      await eventually(
        () => streams.every((s) => s.ended !== null),
        () => JSON.stringify(open(split)),
      );
      assert.deepEqual(open(split), { v1: 0, v2: 0 });
      // No call: the channel goes IDLE after its idle timeout (its own timer), dropping its policy.
      await eventually(
        () => channel.getConnectivityState(false) === grpc.connectivityState.IDLE,
        () => grpc.connectivityState[channel.getConnectivityState(false)]!,
        10_000,
      );
    }
  });
});

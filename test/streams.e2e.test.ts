import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { renderPrometheusMetrics } from '../src/ops/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { eventually } from './helpers/split-helpers.js';
import { subscribe, type Subscription } from './helpers/stream-service.js';
import { Resubscriber, serverCounts, splitCounts, streamRig, type StreamRig } from './helpers/stream-rig.js';

const REBALANCED = /^traffic_split: stream rebalanced to follow new weights \((v1|v2) -> (v1|v2)\)$/;

/** Opens `ids` at once (one tick) and waits until each has its first message. */
async function openAll(rig: StreamRig, ids: string[]): Promise<Subscription[]> {
  const subscriptions = ids.map((id) => subscribe(rig.client, id));
  await Promise.all(subscriptions.map((s) => s.placed));
  return subscriptions;
}

/** Ends `subscription`: from the client (cancel) or from the server (OK), and waits for it. */
async function endFrom(rig: StreamRig, subscription: Subscription, side: 'client' | 'server'): Promise<void> {
  if (side === 'client') subscription.call.cancel();
  else assert.ok((subscription.server === 'v1' ? rig.v1 : rig.v2).endOne(subscription.id));
  await eventually(
    () => subscription.ended !== null,
    () => `${subscription.id} still open`,
  );
}

/** 100 unary calls one after another; resolves with the count per server. */
async function unaryCalls(rig: StreamRig, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const reply = await new Promise<{ server: string }>((resolve, reject) =>
      rig.client.echo({}, (error, r) => (error ? reject(error) : resolve(r!))),
    );
    counts[reply.server] = (counts[reply.server] ?? 0) + 1;
  }
  return counts;
}

/** Moves the fake clock to each timer due within `windowMs` of `start`, letting the subscriber
 * re-open what each one ended before the next. Returns how many timers fired. */
async function driveWindow(
  clock: FakeClock,
  start: number,
  windowMs: number,
  rig: StreamRig,
  subscriber: Resubscriber,
): Promise<number> {
  let fired = 0;
  for (let step = 0; step < 100; step++) {
    const next = clock.pending[0];
    if (next === undefined || clock.now() + next > start + windowMs) break;
    const endsBefore = subscriber.ends.length;
    clock.advance(next);
    fired++;
    // The tick ends a stream (or finds nothing to do): wait for the client to see it and re-open.
    await eventually(
      () =>
        subscriber.ends.length > endsBefore ||
        splitCounts(rig.split).v1 + splitCounts(rig.split).v2 === subscriber.live.size,
      () => 'tick',
    );
    await subscriber.settled(rig);
  }
  return fired;
}

describe('long-lived streams', () => {
  it('places 20 held server streams 18/2 at 90/10, and again 18/2 after any 5 end and 5 open', async (t) => {
    const rig = await streamRig(t, { v1: 90, v2: 10 }, { scheduleSeed: 7 });
    const open = await openAll(
      rig,
      Array.from({ length: 20 }, (_, i) => `s${i}`),
    );
    assert.deepEqual(serverCounts(rig), { v1: 18, v2: 2 });
    assert.deepEqual(splitCounts(rig.split), { v1: 18, v2: 2 });
    // Rounds of 5 ends, each a different mix of subsets and of client and server ends.
    const mixes: { v1: number; v2: number; side: 'client' | 'server' }[] = [
      { v1: 5, v2: 0, side: 'client' },
      { v1: 3, v2: 2, side: 'server' },
      { v1: 4, v2: 1, side: 'client' },
      { v1: 3, v2: 2, side: 'client' },
    ];
    let next = 20;
    for (const [round, mix] of mixes.entries()) {
      const live = open.filter((s) => s.ended === null);
      const chosen = [
        ...live.filter((s) => s.server === 'v1').slice(0, mix.v1),
        ...live.filter((s) => s.server === 'v2').slice(0, mix.v2),
      ];
      assert.equal(chosen.length, 5);
      await Promise.all(chosen.map((s) => endFrom(rig, s, mix.side)));
      await eventually(
        () => splitCounts(rig.split).v1 === 18 - mix.v1 && splitCounts(rig.split).v2 === 2 - mix.v2,
        () => JSON.stringify(splitCounts(rig.split)),
      );
      open.push(
        ...(await openAll(
          rig,
          Array.from({ length: 5 }, () => `s${next++}`),
        )),
      );
      assert.deepEqual(serverCounts(rig), { v1: 18, v2: 2 }, `round ${round}`);
      assert.deepEqual(splitCounts(rig.split), { v1: 18, v2: 2 }, `round ${round}`);
    }
    // Unary calls keep the call schedule: 10 calls at 90/10 put exactly 1 on v2 (within 1).
    const unary = await unaryCalls(rig, 10);
    assert.ok((unary['v2'] ?? 0) <= 2 && (unary['v1'] ?? 0) >= 8, JSON.stringify(unary));
    for (const s of open) s.call.cancel();
    await eventually(
      () => splitCounts(rig.split).v1 + splitCounts(rig.split).v2 === 0,
      () => JSON.stringify(splitCounts(rig.split)),
    );
  });

  it('rebalances 20 streams from 90/10 to exactly 2/18, ending 16 streams once each, evenly over withinMs', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(t, { v1: 90, v2: 10 }, { clock, rebalanceStreams: { withinMs: 1000 } });
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
    await subscriber.settled(rig);
    assert.deepEqual(serverCounts(rig), { v1: 18, v2: 2 });

    const start = clock.now();
    rig.split.setWeights({ v1: 10, v2: 90 });
    const unary = unaryCalls(rig, 100);
    const fired = await driveWindow(clock, start, 1000, rig, subscriber);
    const unaryCounts = await unary;

    assert.deepEqual(serverCounts(rig), { v1: 2, v2: 18 });
    assert.deepEqual(splitCounts(rig.split), { v1: 2, v2: 18 });
    assert.deepEqual(subscriber.unexpected, []);
    assert.equal(fired, 16);
    assert.equal(subscriber.ends.length, 16);
    assert.equal(new Set(subscriber.ends.map((e) => e.id)).size, 16, 'each stream ended once');
    for (const end of subscriber.ends) {
      assert.equal(end.code, grpc.status.UNAVAILABLE);
      assert.equal(end.server, 'v1');
      assert.equal(end.details, 'traffic_split: stream rebalanced to follow new weights (v1 -> v2)');
      assert.match(end.details, REBALANCED);
    }
    // Evenly spread: one every 1000 / 16 ms from the change on, the last before the window ends.
    assert.deepEqual(
      subscriber.ends.map((e) => e.at - start),
      Array.from({ length: 16 }, (_, k) => k * 62.5),
    );
    // Nothing more is due: the streams stay where they are.
    assert.deepEqual(
      clock.pending.filter((ms) => ms <= 10_000),
      [],
    );

    // Unary calls during the change all succeeded and followed the new split (100 calls at 10/90).
    assert.equal((unaryCounts['v1'] ?? 0) + (unaryCounts['v2'] ?? 0), 100);
    assert.ok(Math.abs((unaryCounts['v1'] ?? 0) - 10) <= 1, JSON.stringify(unaryCounts));

    // The ended streams are counted apart, not as failures of v1.
    const { v1 } = rig.split.stats().subsets;
    assert.equal(v1!.rebalanced, 16);
    assert.equal(v1!.codes.UNAVAILABLE, undefined);
    assert.equal(rig.split.stats().subsets['v2']!.rebalanced, 0);
    const text = renderPrometheusMetrics(rig.split);
    assert.match(text, /^traffic_split_streams_rebalanced_total\{split="split",subset="v1"\} 16$/m);
    assert.match(text, /^traffic_split_streams_open\{split="split",subset="v2"\} 18$/m);
    assert.doesNotMatch(text, /code="UNAVAILABLE"/);
  });

  it('ends nothing on a weight change without rebalanceStreams', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(t, { v1: 90, v2: 10 }, { clock });
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
    await subscriber.settled(rig);
    rig.split.setWeights({ v1: 10, v2: 90 });
    rig.split.setWeights({ v1: 0, v2: 100 });
    clock.advance(20_000);
    // New streams follow the new weights; the open ones stay.
    const late = subscribe(rig.client, 'late');
    assert.equal(await late.placed, 'v2');
    late.call.cancel();
    await eventually(
      () => rig.v2.openIds().length === 2,
      () => rig.v2.openIds().join(),
    );
    assert.deepEqual(serverCounts(rig), { v1: 18, v2: 2 });
    assert.deepEqual(subscriber.ends, []);
    assert.equal(rig.split.stats().subsets['v1']!.rebalanced, 0);
  });

  it('never ends a stream pinned by route({ subset }), whatever the changes', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(
      t,
      { v1: 90, v2: 10 },
      { clock, rebalanceStreams: { withinMs: 100 }, maxStreamAgeMs: 50 },
    );
    const pinned = [
      subscribe(rig.client, 'pinned-v1', rig.split.route({ subset: 'v1' })),
      subscribe(rig.client, 'pinned-v2', rig.split.route({ subset: 'v2' })),
    ];
    assert.deepEqual(await Promise.all(pinned.map((s) => s.placed)), ['v1', 'v2']);
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 8; i++) subscriber.open(`s${i}`);
    // 10 streams, 2 pinned: 9 on v1 and 1 on v2 (the pinned v2 one).
    await eventually(
      () => subscriber.counts().v1 + subscriber.counts().v2 === 8,
      () => JSON.stringify(subscriber.counts()),
    );
    assert.deepEqual(splitCounts(rig.split), { v1: 9, v2: 1 });
    const allPlaced = (): boolean => {
      const { v1, v2 } = splitCounts(rig.split);
      const servers = serverCounts(rig);
      return (
        v1 + v2 === 10 &&
        servers.v1 + servers.v2 === 10 &&
        [...subscriber.live.values()].every((s) => s.server !== null && s.ended === null)
      );
    };
    for (const weights of [
      { v1: 10, v2: 90 },
      { v1: 0, v2: 100 },
      { v1: 100, v2: 0 },
      { v1: 50, v2: 50 },
    ]) {
      rig.split.setWeights(weights);
      // 200 ms of fake time in steps of 10: the rebalancing window and several stream ages.
      for (let step = 0; step < 20; step++) {
        clock.advance(10);
        await eventually(
          allPlaced,
          () => `${JSON.stringify(splitCounts(rig.split))} ${JSON.stringify(serverCounts(rig))}`,
        );
      }
    }
    assert.deepEqual(
      pinned.map((s) => s.ended),
      [null, null],
    );
    assert.deepEqual(
      rig.v1.openIds().filter((id) => id.startsWith('pinned')),
      ['pinned-v1'],
    );
    assert.deepEqual(
      rig.v2.openIds().filter((id) => id.startsWith('pinned')),
      ['pinned-v2'],
    );
    assert.deepEqual(subscriber.unexpected, []);
    assert.ok(subscriber.ends.length > 0, 'the keyless streams were moved');
  });
});

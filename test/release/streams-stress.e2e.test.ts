import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrafficSplit } from '../../src/index.js';
import { seededRandom } from '../../src/algorithms/random.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { connect, eventually, waitForSubsetsReady, closeAfter } from '../helpers/split-helpers.js';
import {
  feedClient,
  startFeedServer,
  subscribe,
  type FeedClientInstance,
  type Subscription,
} from '../helpers/stream-service.js';
import { Resubscriber, serverCounts, splitCounts, type StreamRig } from '../helpers/stream-rig.js';

/** grpc-js's own timers short, so a dead subset is seen at once and retried often. */
const FAST = { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 200 };

function echo(client: FeedClientInstance): Promise<string> {
  return new Promise((resolve, reject) =>
    client.echo({}, (error, reply) => (error ? reject(error) : resolve(reply!.server))),
  );
}

describe('streams under churn', () => {
  it(
    'keeps exact split-wide counts across two channels while weights ' +
      'change at every call and streams open, end and get rebalanced',
    async (t) => {
      const v1 = await startFeedServer('v1');
      const v2 = await startFeedServer('v2');
      const clock = new FakeClock();
      const split = new TrafficSplit({
        subsets: { v1: v1.target, v2: v2.target },
        weights: { v1: 90, v2: 10 },
        clock,
        rebalanceStreams: { withinMs: 200 },
      });
      const clients = [
        feedClient(split.target, split.withChannelOptions(FAST)),
        feedClient(split.target, split.withChannelOptions(FAST)),
      ];
      t.after(() => {
        for (const client of clients) client.close();
        split.close();
        v1.kill();
        v2.kill();
      });
      connect(...clients);
      await waitForSubsetsReady(split);
      const rig: StreamRig = { v1, v2, split, client: clients[0]! };
      const subscribers = clients.map((client) => new Resubscriber(client, () => clock.now()));
      t.after(() => subscribers.forEach((s) => s.stop()));
      // 1000 streams opened in one burst over two channels. (Every stream the split ends is a
      // RST_STREAM on its connection, and the servers' HTTP/2 library tears a connection down past
      // a burst of 1000 of them, refilled at 33 a second: the churn below stays under it.)
      subscribers.forEach((subscriber, c) => {
        for (let i = 0; i < 500; i++) subscriber.open(`c${c}-${i}`);
      });
      const total = () => subscribers.reduce((n, s) => n + s.counts().v1 + s.counts().v2, 0);
      await eventually(
        () => total() === 1000,
        () => `${total()} placed`,
        30_000,
      );
      assert.deepEqual(splitCounts(split), { v1: 900, v2: 100 });
      assert.deepEqual(serverCounts(rig), { v1: 900, v2: 100 });

      // Churn: a weight change after every unary call (zeros included), streams ended by clients
      // and servers, the clock moving (rebalancing ticks and age limits fire).
      const random = seededRandom(5);
      const weightChoices = [
        { v1: 90, v2: 10 },
        { v1: 10, v2: 90 },
        { v1: 0, v2: 100 },
        { v1: 100, v2: 0 },
        { v1: 50, v2: 50 },
        { v1: 1, v2: 3 },
      ];
      let unaryFailures = 0;
      let extra = 0;
      const extras: Subscription[] = [];
      for (let call = 0; call < 150; call++) {
        try {
          await echo(clients[call % 2]!);
        } catch {
          unaryFailures++;
        }
        split.setWeights(weightChoices[Math.floor(random() * weightChoices.length)]!);
        const r = random();
        if (r < 0.3) {
          // A stream the application ends itself, replaced by a new one.
          const s = subscribe(clients[call % 2]!, `extra-${extra++}`);
          extras.push(s);
          const old = extras[Math.floor(random() * extras.length)]!;
          old.call.cancel();
        } else if (r < 0.5) {
          const ids = v1.openIds().filter((id) => id.startsWith('extra'));
          if (ids.length > 0) v1.endOne(ids[0]!);
        }
        clock.advance(Math.floor(random() * 3));
        if (call % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(unaryFailures, 0);
      for (const s of extras) s.call.cancel();

      // Then one last change with the churn over: the open streams converge to it exactly.
      split.setWeights({ v1: 25, v2: 75 });
      for (let step = 0; step < 2000 && (clock.pending[0] ?? Infinity) <= 200; step++) {
        clock.advance(clock.pending[0]!);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const settled = async () =>
        eventually(
          () => {
            const counts = splitCounts(split);
            const servers = serverCounts(rig);
            return (
              total() === 1000 &&
              counts.v1 + counts.v2 === 1000 &&
              servers.v1 + servers.v2 === 1000 &&
              counts.v1 === servers.v1
            );
          },
          () =>
            `client ${total()}, split ${JSON.stringify(splitCounts(split))}, servers ${JSON.stringify(serverCounts(rig))}, unexpected ${subscribers
              .flatMap((s) => s.unexpected)
              .slice(0, 5)
              .join(
                '; ',
              )}, live not placed ${subscribers.flatMap((s) => [...s.live.values()].filter((x) => x.server === null && x.ended === null).map((x) => x.id)).length}`,
          30_000,
        );
      await settled();
      assert.deepEqual(splitCounts(split), { v1: 250, v2: 750 });
      // Less than a burst of resets per connection (two channels, two servers: four connections).
      const endsSeen = subscribers.reduce((n, s) => n + s.ends.length, 0);
      assert.ok(endsSeen > 100 && endsSeen < 2500, `${endsSeen} streams ended`);
      assert.deepEqual(
        subscribers.flatMap((s) => s.unexpected),
        [],
      );
      // Every end the clients saw was the split's, counted apart; none counted as a failure.
      const extrasEnded = extras.filter((s) => s.ended?.details.startsWith('traffic_split:')).length;
      const ends = subscribers.reduce((n, s) => n + s.ends.length, 0) + extrasEnded;
      const stats = split.stats().subsets;
      assert.equal(stats['v1']!.rebalanced + stats['v2']!.rebalanced, ends);
      assert.equal((stats['v1']!.codes.UNAVAILABLE ?? 0) + (stats['v2']!.codes.UNAVAILABLE ?? 0), 0);

      // Everything ends: the counts return to exactly 0.
      subscribers.forEach((s) => s.stop());
      await eventually(
        () => splitCounts(split).v1 + splitCounts(split).v2 === 0,
        () => JSON.stringify(splitCounts(split)),
        30_000,
      );
      // A stream leaves the book when its attempt ends; its answer is counted when the call's
      // status reaches the application (what-the-figures-count), a moment later.
      const inFlight = () => split.stats().subsets['v1']!.inFlight + split.stats().subsets['v2']!.inFlight;
      await eventually(
        () => inFlight() === 0,
        () => `${inFlight()} in flight`,
        30_000,
      );
    },
  );

  it('moves no stream towards a subset that is not READY, and counts the streams a dead subset loses', async (t) => {
    const v1 = await startFeedServer('v1');
    const v2 = await startFeedServer('v2');
    const clock = new FakeClock();
    const split = new TrafficSplit({
      subsets: { v1: v1.target, v2: v2.target },
      weights: { v1: 50, v2: 50 },
      clock,
      rebalanceStreams: { withinMs: 100 },
    });
    const client = feedClient(split.target, split.withChannelOptions(FAST));
    closeAfter(t, client, split, v1);
    connect(client);
    await waitForSubsetsReady(split);
    const rig: StreamRig = { v1, v2, split, client };
    const subscriber = new Resubscriber(client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
    await subscriber.settled(rig);
    assert.deepEqual(splitCounts(split), { v1: 10, v2: 10 });
    // v2 dies: its 10 streams end UNAVAILABLE (the server's, not the split's) and are re-opened on v1.
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
    assert.deepEqual(splitCounts(split), { v1: 20, v2: 0 });
    const endsBefore = subscriber.ends.length;
    assert.equal(endsBefore, 10);
    assert.ok(subscriber.ends.every((e) => !e.details.startsWith('traffic_split:')));
    // A change towards v2 moves nothing while no channel has it READY.
    split.setWeights({ v1: 10, v2: 90 });
    clock.advance(1_000);
    assert.equal(subscriber.ends.length, endsBefore);
    assert.deepEqual(splitCounts(split), { v1: 20, v2: 0 });
    // And a change to v1: 0 cannot move them either: v1 is the only READY subset.
    split.setWeights({ v1: 0, v2: 100 });
    clock.advance(1_000);
    assert.equal(subscriber.ends.length, endsBefore);
    assert.equal(split.stats().subsets['v1']!.rebalanced, 0);
    subscriber.stop();
    await eventually(
      () => splitCounts(split).v1 === 0,
      () => JSON.stringify(splitCounts(split)),
    );
  });

  it('moves streams to a subset that comes up after they were opened (rebalanceStreams on)', async (t) => {
    // A free port for v2, with nothing listening on it yet.
    const probe = await startFeedServer('probe');
    const v2Port = probe.port;
    probe.kill();
    const v1 = await startFeedServer('v1');
    const clock = new FakeClock();
    const split = new TrafficSplit({
      subsets: { v1: v1.target, v2: `ipv4:127.0.0.1:${v2Port}` },
      weights: { v1: 50, v2: 50 },
      clock,
      rebalanceStreams: { withinMs: 100 },
    });
    const client = feedClient(split.target, split.withChannelOptions(FAST));
    let v2: Awaited<ReturnType<typeof startFeedServer>> | null = null;
    t.after(() => {
      client.close();
      split.close();
      v1.kill();
      v2?.kill();
    });
    connect(client);
    await waitForSubsetsReady(split, ['v1']);
    const subscriber = new Resubscriber(client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
    await eventually(
      () => subscriber.counts().v1 === 20,
      () => JSON.stringify(subscriber.counts()),
    );
    v2 = await startFeedServer('v2', v2Port);
    await waitForSubsetsReady(split, ['v2'], 10_000);
    const rig: StreamRig = { v1, v2, split, client };
    for (let step = 0; step < 20 && clock.pending.some((ms) => ms <= 100); step++) {
      clock.advance(Math.min(...clock.pending));
      await eventually(
        () => splitCounts(split).v1 + splitCounts(split).v2 === 20,
        () => JSON.stringify(splitCounts(split)),
      );
    }
    await subscriber.settled(rig);
    assert.deepEqual(splitCounts(split), { v1: 10, v2: 10 });
    assert.equal(subscriber.ends.length, 10);
    assert.ok(
      subscriber.ends.every((e) => e.details === 'traffic_split: stream rebalanced to follow new weights (v1 -> v2)'),
    );
  });
});

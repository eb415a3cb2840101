import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as api from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
} from '@opentelemetry/sdk-metrics';
import { instrumentTrafficSplit, startAdminServer } from '../src/ops/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { eventually } from './helpers/split-helpers.js';
import { subscribe } from './helpers/stream-service.js';
import { Resubscriber, serverCounts, splitCounts, streamRig } from './helpers/stream-rig.js';

const TOKEN = 'stream-token-0123456789abcdef';

/** Fires every timer of `clock` due within `ms`, one at a time, waiting for `settle` after each. */
async function advanceSettling(clock: FakeClock, ms: number, settle: () => Promise<void>): Promise<void> {
  const end = clock.now() + ms;
  for (let step = 0; step < 200; step++) {
    const next = clock.pending[0];
    if (next === undefined || clock.now() + next > end) break;
    clock.advance(next);
    await settle();
  }
  clock.advance(end - clock.now());
  await settle();
}

describe('stream options', () => {
  it('ends a sticky-keyed stream only when its key maps to another subset, and re-opens it there', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(
      t,
      { v1: 90, v2: 10 },
      { clock, stickyKey: 'x-user-id', rebalanceStreams: { withinMs: 1000 } },
    );
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const subscriber = new Resubscriber(
      rig.client,
      () => clock.now(),
      undefined,
      (name) => {
        const metadata = new grpc.Metadata();
        metadata.set('x-user-id', name);
        return metadata;
      },
    );
    t.after(() => subscriber.stop());
    for (const user of users) subscriber.open(user);
    await subscriber.settled(rig);
    const before = new Map(users.map((user) => [user, rig.split.subsetFor(user)]));
    for (const user of users) assert.equal(subscriber.live.get(user)!.server, before.get(user));
    rig.split.setWeights({ v1: 10, v2: 90 });
    const moved = users.filter((user) => rig.split.subsetFor(user) !== before.get(user));
    assert.ok(moved.length > 0 && moved.length < users.length, `${moved.length} keys move`);
    await advanceSettling(clock, 1000, () => subscriber.settled(rig));
    assert.deepEqual(subscriber.ends.map((e) => e.id).sort(), moved.sort());
    for (const end of subscriber.ends) {
      const user = end.id;
      assert.equal(
        end.details,
        `traffic_split: stream rebalanced to follow new weights (${before.get(user)} -> ${rig.split.subsetFor(user)})`,
      );
    }
    for (const user of users) assert.equal(subscriber.live.get(user)!.server, rig.split.subsetFor(user), user);
    assert.deepEqual(subscriber.unexpected, []);
  });

  it('never ends a stream routed by a header rule; counts it where the rule put it', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(
      t,
      { v1: 90, v2: 10 },
      {
        clock,
        rules: [{ header: 'x-canary', equals: 'always', subset: 'v2' }],
        rebalanceStreams: { withinMs: 10 },
        maxStreamAgeMs: 50,
      },
    );
    const metadata = new grpc.Metadata();
    metadata.set('x-canary', 'always');
    const canaries = [0, 1, 2].map((i) => subscribe(rig.client, `canary-${i}`, {}, undefined, metadata));
    assert.deepEqual(await Promise.all(canaries.map((s) => s.placed)), ['v2', 'v2', 'v2']);
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 7; i++) subscriber.open(`s${i}`);
    // 10 open at 90/10: the 3 canaries already exceed v2's share, so every keyless one is on v1.
    await eventually(
      () => subscriber.counts().v1 === 7,
      () => JSON.stringify(subscriber.counts()),
    );
    assert.deepEqual(splitCounts(rig.split), { v1: 7, v2: 3 });
    rig.split.setWeights({ v1: 100, v2: 0 });
    for (let step = 0; step < 10; step++) {
      clock.advance(10);
      await eventually(
        () => splitCounts(rig.split).v1 + splitCounts(rig.split).v2 === 10 && subscriber.counts().v1 === 7,
        () => JSON.stringify(splitCounts(rig.split)),
      );
    }
    assert.deepEqual(
      canaries.map((s) => s.ended),
      [null, null, null],
    );
    assert.deepEqual(rig.v2.openIds(), ['canary-0', 'canary-1', 'canary-2']);
    assert.ok(subscriber.ends.length > 0, 'the keyless streams were aged out and re-opened');
    assert.ok(subscriber.ends.every((e) => e.server === 'v1'));
  });

  it('ends streams at maxStreamAgeMs, jittered within its last 10%, and places them again by the weights', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(t, { v1: 50, v2: 50 }, { clock, maxStreamAgeMs: 1000 });
    const pinned = subscribe(rig.client, 'pinned', rig.split.route({ subset: 'v2' }));
    assert.equal(await pinned.placed, 'v2');
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 10; i++) subscriber.open(`s${i}`);
    await eventually(
      () => subscriber.counts().v1 + subscriber.counts().v2 === 10,
      () => JSON.stringify(subscriber.counts()),
    );
    const start = clock.now();
    clock.advance(899);
    assert.equal(subscriber.ends.length, 0);
    const settle = () =>
      eventually(
        () => subscriber.ends.length === 10 || splitCounts(rig.split).v1 + splitCounts(rig.split).v2 === 11,
        () => 'settling',
      );
    await advanceSettling(clock, 101, settle);
    await eventually(
      () => subscriber.counts().v1 + subscriber.counts().v2 === 10,
      () => JSON.stringify(subscriber.counts()),
    );
    assert.equal(subscriber.ends.length, 10);
    assert.equal(new Set(subscriber.ends.map((e) => e.id)).size, 10);
    for (const end of subscriber.ends) {
      assert.ok(end.at - start >= 900 && end.at - start <= 1000, `${end.at - start}`);
      assert.match(
        end.details,
        /^traffic_split: stream reached maxStreamAgeMs \(1000 ms\) on subset v[12]; open it again$/,
      );
    }
    assert.ok(new Set(subscriber.ends.map((e) => e.at)).size > 1, 'jittered');
    // 11 open, the pinned one on v2 included: 5.5 each, so 6/5 or 5/6.
    assert.equal(pinned.ended, null);
    const open = splitCounts(rig.split);
    assert.ok(open.v1 + open.v2 === 11 && Math.abs(open.v1 - open.v2) === 1, JSON.stringify(open));
    const { v1, v2 } = rig.split.stats().subsets;
    assert.equal(v1!.rebalanced + v2!.rebalanced, 10);
    assert.equal((v1!.codes.UNAVAILABLE ?? 0) + (v2!.codes.UNAVAILABLE ?? 0), 0);
  });

  it('without the split interceptor, routes streams by the call schedule and neither counts nor ends them', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(
      t,
      { v1: 90, v2: 10 },
      { clock, rebalanceStreams: { withinMs: 100 }, maxStreamAgeMs: 100 },
      false,
    );
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
    await eventually(
      () => subscriber.counts().v1 + subscriber.counts().v2 === 20,
      () => JSON.stringify(subscriber.counts()),
    );
    const servers = serverCounts(rig);
    assert.equal(servers.v1 + servers.v2, 20);
    assert.deepEqual(splitCounts(rig.split), { v1: 0, v2: 0 });
    rig.split.setWeights({ v1: 10, v2: 90 });
    clock.advance(10_000);
    assert.deepEqual(subscriber.ends, []);
    assert.deepEqual(serverCounts(rig), servers);
  });

  it(
    'close() with streams open and a rebalancing under way: nothing ' +
      'more is ended, the streams finish, the counts return to 0',
    async (t) => {
      const clock = new FakeClock();
      const rig = await streamRig(
        t,
        { v1: 90, v2: 10 },
        { clock, rebalanceStreams: { withinMs: 1000 }, maxStreamAgeMs: 5_000 },
      );
      const subscriber = new Resubscriber(rig.client, () => clock.now());
      t.after(() => subscriber.stop());
      for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
      await subscriber.settled(rig);
      rig.split.setWeights({ v1: 10, v2: 90 });
      clock.advance(100); // two ends (at 0 and 62.5 ms)
      await eventually(
        () => subscriber.ends.length === 2,
        () => `${subscriber.ends.length} ends`,
      );
      await subscriber.settled(rig);
      rig.split.close();
      const open = serverCounts(rig);
      clock.advance(60_000);
      assert.equal(subscriber.ends.length, 2);
      assert.deepEqual(serverCounts(rig), open);
      assert.equal(open.v1 + open.v2, 20);
      assert.throws(() => rig.split.setWeights({ v1: 1, v2: 1 }), /closed/);
      subscriber.stop();
      await eventually(
        () => splitCounts(rig.split).v1 + splitCounts(rig.split).v2 === 0,
        () => JSON.stringify(splitCounts(rig.split)),
      );
      await eventually(
        () => serverCounts(rig).v1 + serverCounts(rig).v2 === 0,
        () => JSON.stringify(serverCounts(rig)),
      );
    },
  );

  it('PUT /weights?rebalanceStreamsWithinMs moves open streams for that change; a bad value changes nothing', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(t, { v1: 90, v2: 10 }, { clock });
    const admin = await startAdminServer(rig.split, { port: 0, token: TOKEN });
    t.after(() => admin.close());
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 20; i++) subscriber.open(`s${i}`);
    await subscriber.settled(rig);
    const put = (query: string, weights: object) =>
      fetch(`${admin.url}/weights${query}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(weights),
        signal: AbortSignal.timeout(5_000),
      });
    const bad = await put('?rebalanceStreamsWithinMs=soon', { v1: 10, v2: 90 });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), {
      error: 'rebalanceStreamsWithinMs: expected an integer number of milliseconds or "off", got `"soon"` (string)',
      code: 'ERR_SPLIT_INVALID_CONFIG',
    });
    assert.deepEqual(rig.split.getWeights(), { v1: 90, v2: 10 });
    const good = await put('?rebalanceStreamsWithinMs=0', { v1: 10, v2: 90 });
    assert.equal(good.status, 200);
    clock.advance(0);
    await eventually(
      () => subscriber.ends.length === 16,
      () => `${subscriber.ends.length} ends`,
    );
    await subscriber.settled(rig);
    assert.deepEqual(serverCounts(rig), { v1: 2, v2: 18 });
    // Without the query the split's option (off) applies: nothing moves.
    assert.equal((await put('', { v1: 90, v2: 10 })).status, 200);
    clock.advance(10_000);
    assert.equal(subscriber.ends.length, 16);
  });

  it('reports open and rebalanced streams to OpenTelemetry', async (t) => {
    const clock = new FakeClock();
    const rig = await streamRig(t, { v1: 90, v2: 10 }, { clock, rebalanceStreams: { withinMs: 0 } });
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const telemetry = await instrumentTrafficSplit(rig.split, { api, meterProvider: provider });
    t.after(async () => {
      telemetry.stop();
      await provider.shutdown();
    });
    const subscriber = new Resubscriber(rig.client, () => clock.now());
    t.after(() => subscriber.stop());
    for (let i = 0; i < 10; i++) subscriber.open(`s${i}`);
    await subscriber.settled(rig);
    rig.split.setWeights({ v1: 10, v2: 90 });
    clock.advance(0);
    await eventually(
      () => subscriber.ends.length === 8,
      () => `${subscriber.ends.length} ends`,
    );
    await subscriber.settled(rig);
    await reader.forceFlush();
    const points = (name: string): Record<string, number> => {
      const metric = exporter
        .getMetrics()
        .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
        .find((m) => m.descriptor.name === name);
      assert.ok(metric, name);
      return Object.fromEntries(
        (metric.dataPoints as DataPoint<number>[]).map((p) => [
          String(p.attributes['grpc.lb.traffic_split.subset']),
          p.value,
        ]),
      );
    };
    assert.deepEqual(points('grpc.lb.traffic_split.streams.open'), { v1: 1, v2: 9 });
    assert.deepEqual(points('grpc.lb.traffic_split.streams.rebalanced'), { v1: 8, v2: 0 });
  });
});

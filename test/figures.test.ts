import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type SplitStats } from '../src/index.js';
import { callEcho, echoClient, type EchoClientInstance } from './helpers/echo-service.js';
import { startRefusingServer, type RefusingServer } from './helpers/refusing-server.js';
import { startServer, type TestServer } from './helpers/servers.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';
import { rig } from './helpers/rig.js';

/** Short reconnect backoff, so a dead subset is retried often. */
const FAST_BACKOFF = { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 100 };

function sum(stats: SplitStats, figure: (s: SplitStats['subsets'][string]) => number): number {
  return Object.values(stats.subsets).reduce((total, s) => total + figure(s), 0);
}

function failures(codes: Partial<Record<string, number>>): number {
  return Object.entries(codes).reduce((total, [code, n]) => total + (code === 'OK' ? 0 : (n ?? 0)), 0);
}

/** A port where nothing listens: bound by a server that is then killed. */
async function deadServer(): Promise<TestServer> {
  const server = await startServer('dead');
  await server.kill();
  return server;
}

async function settled(split: TrafficSplit): Promise<SplitStats> {
  await eventually(
    () => Object.values(split.stats().subsets).every((s) => s.inFlight === 0),
    () => JSON.stringify(split.stats().subsets),
  );
  return split.stats();
}

describe('figures under a hedging policy', () => {
  it("counts hedging losers as abandoned, not as failures, and keeps them out of the slow subset's latency", async (t) => {
    const serviceConfig = {
      methodConfig: [{ name: [{ service: 'test.Echo' }], hedgingPolicy: { maxAttempts: 2, hedgingDelay: '0.05s' } }],
    };
    const { split, client } = await rig(t, { v1: 50, v2: 50 }, {}, (s) => ({
      ...s.channelOptions,
      'grpc.service_config': JSON.stringify(serviceConfig),
    }));

    // v2 answers after 300 ms (the only timing here); v1 at once. Calls first sent to v2 are
    // hedged after 50 ms, in v2 again (without retryOnOtherSubset a call's later attempts stay in
    // its subset), and won by the first attempt; calls routed to v2 can only be won by v2.
    const slow = { slowServer: 'v2', delayMs: 300 };
    const options = (extra: grpc.CallOptions = {}) => ({ deadline: Date.now() + 20_000, ...extra });
    const replies = [];
    // One at a time, so that v1 answers its calls at once, before a hedge.
    for (let i = 0; i < 20; i++) replies.push(await callEcho(client, slow, new grpc.Metadata(), options()));
    replies.push(
      ...(await Promise.all(
        Array.from({ length: 6 }, () =>
          callEcho(client, slow, new grpc.Metadata(), options(split.route({ subset: 'v2' }))),
        ),
      )),
    );
    const answeredByV2 = replies.filter((r) => r.server === 'v2').length;
    assert.ok(answeredByV2 >= 6, `v2 answered ${answeredByV2}`);

    const stats = await settled(split);
    const v2Stats = stats.subsets['v2']!;
    t.diagnostic(JSON.stringify(stats.subsets));
    const started = sum(stats, (s) => s.started);
    // Every call was hedged or won at once; each call has exactly one winner.
    assert.equal(
      sum(stats, (s) => s.finished),
      26,
      'one answer per call',
    );
    assert.equal(
      sum(stats, (s) => s.abandoned),
      started - 26,
      'every losing attempt is abandoned',
    );
    assert.ok(started - 26 >= 6, `the 6 calls routed to v2 were all hedged (started ${started})`);
    assert.equal(failures(stats.subsets['v1']!.codes) + failures(v2Stats.codes), 0, 'no failures');
    assert.deepEqual(v2Stats.codes, { OK: answeredByV2 });
    assert.ok(v2Stats.latencyMs.p50! >= 270, `v2 p50 ${v2Stats.latencyMs.p50} ms`);
    assert.ok(v2Stats.latencyMs.p99! >= 270, `v2 p99 ${v2Stats.latencyMs.p99} ms`);
    assert.equal(v2Stats.inFlight, 0);
  });
});

/** A split whose v1 is `v1` (a server that refuses streams) at 100/0, with a plain v2 beside it. */
async function refusingRig(
  t: TestContext,
  v1: RefusingServer,
): Promise<{ split: TrafficSplit; client: EchoClientInstance }> {
  const v2 = await startServer('v2');
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
  const client = echoClient(split.target, { ...split.channelOptions, ...FAST_BACKOFF });
  t.after(async () => {
    client.close();
    split.close();
    await Promise.all([v1.close(), v2.kill()]);
  });
  connect(client);
  await waitForSubsetsReady(split);
  return { split, client };
}

describe('figures of refused streams', () => {
  it('does not count a stream refused by the server and transparently retried as a failure of the subset', async (t) => {
    const v1 = await startRefusingServer('v1', 1);
    const { split, client } = await refusingRig(t, v1);

    const reply = await callEcho(client, { text: 'hi' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    assert.deepEqual(reply, { server: 'v1', text: 'hi' });
    assert.equal(v1.refused(), 1);
    const stats = await settled(split);
    assert.deepEqual(
      {
        started: stats.subsets['v1']!.started,
        finished: stats.subsets['v1']!.finished,
        refused: stats.subsets['v1']!.refused,
        codes: stats.subsets['v1']!.codes,
      },
      { started: 2, finished: 1, refused: 1, codes: { OK: 1 } },
    );
    assert.deepEqual(stats.notStarted, {});
  });

  it('does not count a stream caught by a GOAWAY and transparently retried as a failure of the subset', async (t) => {
    const v1 = await startRefusingServer('v1', 0, 'goaway');
    const { split, client } = await refusingRig(t, v1);

    // Two calls in the same tick share the connection; the GOAWAY sent on the first one's
    // arrival excludes the second, which grpc-js retries on a new connection.
    const options = () => ({ deadline: Date.now() + 10_000 });
    const replies = await Promise.all(
      ['a', 'b'].map((text) => callEcho(client, { text }, new grpc.Metadata(), options())),
    );
    assert.deepEqual(replies, [
      { server: 'v1', text: 'a' },
      { server: 'v1', text: 'b' },
    ]);
    const stats = await settled(split);
    const v1Stats = stats.subsets['v1']!;
    assert.deepEqual(
      { started: v1Stats.started, finished: v1Stats.finished, refused: v1Stats.refused, codes: v1Stats.codes },
      { started: 3, finished: 2, refused: 1, codes: { OK: 2 } },
    );
  });
});

describe('calls that never start', () => {
  it('counts calls that end while bound to a subset that is not READY, once, by code', async (t) => {
    const v1 = await startServer('v1');
    const dead = await deadServer();
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: dead.target }, weights: { v1: 100, v2: 0 } });
    const client = echoClient(split.target, { ...split.channelOptions, ...FAST_BACKOFF });
    t.after(async () => {
      client.close();
      split.close();
      await v1.kill();
    });
    connect(client);
    await waitForSubsetsReady(split, ['v1']);
    await eventually(
      () => split.stats().subsets['v2']!.state === 'TRANSIENT_FAILURE',
      () => JSON.stringify(split.stats().subsets['v2']),
    );

    for (let i = 0; i < 5; i++) await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    const toV2 = split.route({ subset: 'v2' });
    // Under wait-for-ready: queued until its deadline (the deadline is what is tested).
    const queued = await callEcho(client, {}, new grpc.Metadata({ waitForReady: true }), {
      ...toV2,
      deadline: Date.now() + 300,
    }).catch((e: grpc.ServiceError) => e);
    assert.equal((queued as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
    // Without it: fails at the pick.
    const failed = await callEcho(client, {}, new grpc.Metadata(), { ...toV2, deadline: Date.now() + 10_000 }).catch(
      (e: grpc.ServiceError) => e,
    );
    assert.equal((failed as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    // Cancelled by the application while queued.
    const cancelled = await new Promise<grpc.ServiceError>((resolve) => {
      const call = client.echo(
        {},
        new grpc.Metadata({ waitForReady: true }),
        { ...toV2, deadline: Date.now() + 10_000 },
        (error) => resolve(error!),
      );
      setImmediate(() => call.cancel());
    });
    assert.equal(cancelled.code, grpc.status.CANCELLED);

    const stats = await settled(split);
    assert.deepEqual(stats.subsets['v2']!.notStarted, { DEADLINE_EXCEEDED: 1, UNAVAILABLE: 1, CANCELLED: 1 });
    assert.deepEqual(stats.notStarted, { DEADLINE_EXCEEDED: 1, UNAVAILABLE: 1, CANCELLED: 1 });
    assert.deepEqual(stats.subsets['v1']!.notStarted, {});
    assert.equal(stats.subsets['v2']!.started, 0);
    const notStarted = Object.values(stats.notStarted).reduce((a, n) => a + (n ?? 0), 0);
    assert.equal(sum(stats, (s) => s.started) + notStarted, 8, 'calls made');
    assert.equal(stats.subsets['v2']!.inFlight, 0);
  });

  it('counts a wait-for-ready call that times out while no subset is READY at the split level only', async (t) => {
    const [a, b] = [await deadServer(), await deadServer()];
    const split = new TrafficSplit({ subsets: { v1: a.target, v2: b.target }, weights: { v1: 50, v2: 50 } });
    const client = echoClient(split.target, { ...split.channelOptions, ...FAST_BACKOFF });
    t.after(() => {
      client.close();
      split.close();
    });
    const mark = split.mark();
    const error = await callEcho(client, {}, new grpc.Metadata({ waitForReady: true }), {
      deadline: Date.now() + 300,
    }).catch((e: grpc.ServiceError) => e);
    assert.equal((error as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
    const stats = split.stats({ since: mark });
    assert.deepEqual(stats.notStarted, { DEADLINE_EXCEEDED: 1 });
    assert.deepEqual([stats.subsets['v1']!.notStarted, stats.subsets['v2']!.notStarted], [{}, {}]);
    assert.equal(
      sum(stats, (s) => s.started),
      0,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(stats)), stats, 'JSON-able');
  });
});

describe('subsetState events', () => {
  it('are emitted on a change only: a subset that stays down is reported TRANSIENT_FAILURE once', async (t: TestContext) => {
    const v1 = await startServer('v1');
    const v2 = await startServer('v2');
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 50, v2: 50 } });
    const client = echoClient(split.target, { ...split.channelOptions, ...FAST_BACKOFF });
    t.after(async () => {
      client.close();
      split.close();
      await v1.kill();
    });
    connect(client);
    await waitForSubsetsReady(split);
    const events: string[] = [];
    split.on('subsetState', ({ subset, state }) => {
      if (subset === 'v2') events.push(state);
    });
    await v2.kill();
    // Every reconnect to v2's port reaches this listener and fails at once: each failure is one
    // more TRANSIENT_FAILURE update from the channel.
    let attempts = 0;
    const blackhole = net.createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => blackhole.listen(v2.port, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => blackhole.close(() => resolve())));
    await eventually(
      () => attempts >= 6,
      () => `${attempts} reconnects, events ${events.join(' ')}`,
      20_000,
    );
    t.diagnostic(`${attempts} reconnects; events ${events.join(' ')}`);
    assert.equal(events.filter((e) => e === 'TRANSIENT_FAILURE').length, 1, events.join(' '));
    assert.ok(
      events.every((e, i) => i === 0 || e !== events[i - 1]),
      events.join(' '),
    );
  });
});

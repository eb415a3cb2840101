import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { callEcho, echoClient, type EchoClientInstance, type EchoReply } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';
import { countOf, maxWindowDeviation } from './helpers/sequences.js';
import { startServer } from './helpers/servers.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

async function sequentialCalls(client: EchoClientInstance, n: number): Promise<string[]> {
  const servers: string[] = [];
  for (let i = 0; i < n; i++)
    servers.push((await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 5_000 })).server);
  return servers;
}

describe('a split over persistent connections', () => {
  it('routes 1000 sequential calls 90/10 with 100 +- 1 to v2 and every window of 10 and 100 within one call', async (t) => {
    // The schedule's phase and arrangement are random, so v2's calls move within each period,
    // but every count whose ideal is an integer stays within one call of it.
    const { client } = await rig(t, { v1: 90, v2: 10 });
    const servers = await sequentialCalls(client, 1000);
    assert.ok(Math.abs(countOf(servers)['v2']! - 100) <= 1, JSON.stringify(countOf(servers)));
    assert.ok(maxWindowDeviation(servers, { v1: 90, v2: 10 }, 10) <= 1, 'window 10');
    assert.ok(maxWindowDeviation(servers, { v1: 90, v2: 10 }, 100) <= 1, 'window 100');
  });

  it('applies setWeights to the very next calls with no new connection', async (t) => {
    const { client, split, v1, v2 } = await rig(t, { v1: 90, v2: 10 });
    await sequentialCalls(client, 50);
    const accepted = [v1.accepted(), v2.accepted()];
    assert.deepEqual(accepted, [1, 1]);
    split.setWeights({ v1: 10, v2: 90 });
    const next10 = await sequentialCalls(client, 10);
    const next100 = await sequentialCalls(client, 100);
    assert.ok(countOf(next10)['v2']! >= 8, `next 10: ${JSON.stringify(countOf(next10))}`);
    assert.ok(Math.abs(countOf(next100)['v2']! - 90) <= 1, `next 100: ${JSON.stringify(countOf(next100))}`);
    assert.deepEqual([v1.accepted(), v2.accepted()], accepted, 'connections accepted');
  });

  it('sends no call to a weight-0 subset but keeps its connection, so raising it needs no connect', async (t) => {
    const { client, split, v1, v2 } = await rig(t, { v1: 1, v2: 0 });
    const servers = await sequentialCalls(client, 200);
    assert.deepEqual(countOf(servers), { v1: 200 });
    assert.equal(v2.open(), 1, 'v2 connection open');
    assert.equal(split.stats().subsets['v2']!.state, 'READY');
    split.setWeights({ v1: 1, v2: 1 });
    const after = await sequentialCalls(client, 100);
    assert.ok(
      Math.abs(countOf(after)['v2']! - 50) <= 1 && countOf(after)['v1']! + countOf(after)['v2']! === 100,
      JSON.stringify(countOf(after)),
    );
    assert.deepEqual([v1.accepted(), v2.accepted()], [1, 1]);
  });

  it('keeps the split exact across two channels built from one split', async (t) => {
    const { client, split } = await rig(t, { v1: 90, v2: 10 });
    const second = echoClient(split.target, split.channelOptions);
    t.after(() => second.close());
    connect(second);
    await eventually(
      () => split.stats().channels === 2,
      () => `${split.stats().channels} channels`,
    );
    await waitForSubsetsReady(split);
    assert.equal(split.stats().channels, 2);
    const servers: string[] = [];
    for (let i = 0; i < 500; i++) {
      servers.push((await callEcho(client)).server, (await callEcho(second)).server);
    }
    assert.ok(Math.abs(countOf(servers)['v2']! - 100) <= 1, JSON.stringify(countOf(servers)));
    assert.ok(maxWindowDeviation(servers, { v1: 90, v2: 10 }, 10) <= 1);
  });

  it('routes unary, server-streaming, client-streaming and bidi calls', async (t) => {
    const { client } = await rig(t, { v1: 0, v2: 1 });
    assert.equal((await callEcho(client)).server, 'v2');
    const streamed: EchoReply[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.stream({ count: 4 });
      call.on('data', (reply: EchoReply) => streamed.push(reply));
      call.on('error', reject);
      call.on('end', resolve);
    });
    assert.deepEqual(
      streamed.map((r) => r.server),
      ['v2', 'v2', 'v2', 'v2'],
    );
    const collected = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.collect((error, reply) => (error ? reject(error) : resolve(reply!)));
      for (const text of ['a', 'b', 'c']) call.write({ text });
      call.end();
    });
    assert.deepEqual(collected, { server: 'v2', text: 'a,b,c' });
  });

  it('keeps a bidi stream on the subset it started on while the weights flip', async (t) => {
    const { client, split } = await rig(t, { v1: 1, v2: 0 });
    const call = client.chat();
    const replies: EchoReply[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (reply: EchoReply) => replies.push(reply));
      call.on('error', reject);
      call.on('end', resolve);
    });
    const replied = (n: number) =>
      eventually(
        () => replies.length >= n,
        () => `${replies.length} replies`,
      );
    call.write({ text: 'before' });
    await replied(1);
    split.setWeights({ v1: 0, v2: 1 });
    assert.equal((await callEcho(client)).server, 'v2', 'new calls follow the new weights');
    call.write({ text: 'after' });
    await replied(2);
    call.end();
    await ended;
    assert.deepEqual(
      replies.map((r) => r.server),
      ['v1', 'v1'],
    );
  });

  it('moves new calls off a stopped subset at once and gives it its share back when it returns', async (t) => {
    const { client, split, v2 } = await rig(t, { v1: 50, v2: 50 });
    await v2.kill();
    await eventually(
      () => split.stats().subsets['v2']!.state !== 'READY',
      () => JSON.stringify(split.stats().subsets['v2']),
    );
    const during = await sequentialCalls(client, 100);
    assert.deepEqual(countOf(during), { v1: 100 });
    const restarted = await startServer('v2', v2.port);
    t.after(() => restarted.kill());
    await waitForSubsetsReady(split, ['v2'], 10_000);
    const after = await sequentialCalls(client, 100);
    assert.ok(Math.abs(countOf(after)['v2']! - 50) <= 1, JSON.stringify(countOf(after)));
  });

  it('keeps five subsets (a looped period) within 2 in every window while one stops, its weight changes, and it returns', async (t) => {
    const servers = await Promise.all(['v1', 'v2', 'v3', 'v4', 'v5'].map((name) => startServer(name)));
    const split = new TrafficSplit({
      subsets: Object.fromEntries(servers.map((server) => [server.name, server.target])),
      weights: { v1: 40, v2: 30, v3: 15, v4: 10, v5: 5 },
      scheduleSeed: 3,
    });
    const client = echoClient(split.target, split.channelOptions);
    let v5 = servers[4]!;
    t.after(async () => {
      client.close();
      split.close();
      await Promise.all([...servers.slice(0, 4), v5].map((server) => server.kill()));
    });
    connect(client);
    await waitForSubsetsReady(split);
    const worst = (calls: string[], weights: Record<string, number>) =>
      Math.max(...[10, 57, calls.length].map((window) => maxWindowDeviation(calls, weights, window)));
    const all = await sequentialCalls(client, 300);
    assert.ok(worst(all, split.getWeights()) < 2, `all five: ${worst(all, split.getWeights())}`);
    await v5.kill();
    await eventually(
      () => split.stats().subsets['v5']!.state !== 'READY',
      () => JSON.stringify(split.stats().subsets['v5']),
    );
    const four = { v1: 40, v2: 30, v3: 15, v4: 10 };
    const without = await sequentialCalls(client, 200);
    // v5's weight changes while it is away: the four's schedule takes the weights again, unchanged.
    split.setWeights({ ...four, v5: 7 });
    without.push(...(await sequentialCalls(client, 200)));
    assert.ok(worst(without, four) < 2, `four: ${worst(without, four)} ${JSON.stringify(countOf(without))}`);
    v5 = await startServer('v5', v5.port);
    await waitForSubsetsReady(split, ['v5'], 10_000);
    const back = await sequentialCalls(client, 300);
    assert.ok(worst(back, split.getWeights()) < 2, `five again: ${worst(back, split.getWeights())}`);
  });

  it('fails calls with UNAVAILABLE naming every subset and its state when none can serve', async (t) => {
    const { client, split, v1, v2 } = await rig(t, { v1: 50, v2: 50 });
    await Promise.all([v1.kill(), v2.kill()]);
    await eventually(
      () =>
        split.stats().subsets['v1']!.state === 'TRANSIENT_FAILURE' &&
        split.stats().subsets['v2']!.state === 'TRANSIENT_FAILURE',
      () => JSON.stringify(split.stats().subsets),
      10_000,
    );
    const error = await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 3_000 }).then(
      () => assert.fail('call succeeded'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.match(
      error.details,
      /^traffic_split: no weighted subset is READY; v1 \(weight 50\): TRANSIENT_FAILURE.*; v2 \(weight 50\): TRANSIENT_FAILURE/,
    );
  });

  it('queues calls under wait-for-ready while no subset can serve, and serves them when one returns', async (t) => {
    const { client, split, v1, v2 } = await rig(t, { v1: 50, v2: 50 });
    await Promise.all([v1.kill(), v2.kill()]);
    await eventually(
      () => split.stats().subsets['v1']!.state === 'TRANSIENT_FAILURE',
      () => JSON.stringify(split.stats().subsets),
      10_000,
    );
    const waiting = callEcho(client, {}, new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + 20_000 });
    const restarted = await startServer('v1', v1.port);
    t.after(() => restarted.kill());
    assert.equal((await waiting).server, 'v1');
  });

  it('fails calls of a closed split with UNAVAILABLE at once', async (t) => {
    const { client, split } = await rig(t, { v1: 1, v2: 1 });
    split.close();
    const error = await callEcho(client, {}, new grpc.Metadata({ waitForReady: true }), {
      deadline: Date.now() + 3_000,
    }).then(
      () => assert.fail('call succeeded'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.equal(error.details, `traffic_split: split "split" is closed`);
  });

  it('counts every finished call by subset and status code', async (t) => {
    const { client, split } = await rig(t, { v1: 1, v2: 1 });
    const ok = countOf(await sequentialCalls(client, 10));
    // Each failure names the server that produced it.
    const failed: string[] = [];
    for (let i = 0; i < 4; i++) {
      await callEcho(client, { failWith: grpc.status.RESOURCE_EXHAUSTED }).catch((e: grpc.ServiceError) =>
        failed.push(e.details.split(' ')[0]!),
      );
    }
    const bad = countOf(failed);
    assert.equal(failed.length, 4);
    const stats = split.stats();
    for (const name of ['v1', 'v2']) {
      const expected = {
        ...(ok[name] ? { OK: ok[name] } : {}),
        ...(bad[name] ? { RESOURCE_EXHAUSTED: bad[name] } : {}),
      };
      assert.deepEqual(stats.subsets[name]!.codes, expected, name);
    }
    assert.equal(stats.subsets['v1']!.finished + stats.subsets['v2']!.finished, 14);
    assert.equal(stats.subsets['v1']!.inFlight + stats.subsets['v2']!.inFlight, 0);
    assert.deepEqual(JSON.parse(JSON.stringify(stats)), stats);
  });
});

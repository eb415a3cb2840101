/**
 * Splits share connections through grpc-js's subchannel pool as plain channels do: splits over the
 * same backends with equal options and credentials hold one connection per backend, not one per
 * split; `grpc.use_local_subchannel_pool` keeps a channel's connections its own; figures stay
 * per split.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { callEcho, echoClient, type EchoClientInstance } from './helpers/echo-service.js';
import { countOf } from './helpers/sequences.js';
import { startServer, type TestServer } from './helpers/servers.js';
import { hasOpenssl, makeTestPki } from './helpers/tls.js';
import { connect, waitForSubsetsReady } from './helpers/split-helpers.js';

interface SplitClient {
  split: TrafficSplit;
  client: EchoClientInstance;
}

async function backends(t: TestContext): Promise<[TestServer, TestServer]> {
  const v1 = await startServer('v1');
  const v2 = await startServer('v2');
  t.after(() => Promise.all([v1.kill(), v2.kill()]));
  return [v1, v2];
}

let splitsMade = 0;

interface SplitClientOptions {
  /** Channel options on top of the split's. */
  channelOptions?: grpc.ChannelOptions;
  split?: Partial<TrafficSplitOptions>;
  credentials?: grpc.ChannelCredentials;
}

/** `count` splits over v1 and v2 at 1:1, one client each. */
function splitClients(
  t: TestContext,
  count: number,
  v1: TestServer,
  v2: TestServer,
  options: SplitClientOptions = {},
) {
  const made: SplitClient[] = [];
  const subsets = { v1: v1.target, v2: v2.target };
  for (let i = 0; i < count; i++) {
    const name = `share-${splitsMade++}`;
    const split = new TrafficSplit({ name, subsets, weights: { v1: 1, v2: 1 }, ...options.split });
    const channelOptions = split.withChannelOptions(options.channelOptions ?? {});
    const client = echoClient(split.target, channelOptions, options.credentials);
    made.push({ split, client });
  }
  t.after(() => {
    for (const { split, client } of made) {
      client.close();
      split.close();
    }
  });
  return made;
}

/** One call with a generous deadline (1,000 channels connect at once on a shared machine). */
async function callOnce(client: EchoClientInstance): Promise<string> {
  return (await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 20_000 })).server;
}

/** Split `i` makes 1 + i % 3 calls, one after the other; returns the servers that answered. */
function callEach(splits: readonly SplitClient[]): Promise<string[][]> {
  return Promise.all(
    splits.map(async ({ client }, i) => {
      const servers: string[] = [];
      for (let call = 0; call < 1 + (i % 3); call++) servers.push(await callOnce(client));
      return servers;
    }),
  );
}

/** Each split's figures count its own calls: exactly the servers its client saw answer. */
function assertFiguresPerSplit(splits: readonly SplitClient[], answered: readonly string[][]): void {
  splits.forEach(({ split }, i) => {
    const { subsets } = split.stats();
    const seen = countOf(answered[i]!);
    const started = { v1: subsets['v1']!.started, v2: subsets['v2']!.started };
    assert.deepEqual(started, { v1: seen['v1'] ?? 0, v2: seen['v2'] ?? 0 }, `split ${i}`);
  });
}

describe('connections shared between splits', () => {
  it('1,000 splits with one client each over the same two backends open one connection per backend', async (t) => {
    const [v1, v2] = await backends(t);
    const splits = splitClients(t, 1_000, v1, v2);
    const answered = await callEach(splits);
    assert.deepEqual([v1.accepted(), v2.accepted()], [1, 1], 'connections accepted');
    assert.deepEqual([v1.open(), v2.open()], [1, 1], 'connections open');
    assertFiguresPerSplit(splits, answered);
    // 334 splits make 1 call, 333 make 2 and 333 make 3.
    assert.equal(answered.flat().length, 1_999);
  });

  it('1,000 plain round_robin channels to the same backends open one connection per backend (grpc-js)', async (t) => {
    const [v1, v2] = await backends(t);
    const target = `ipv4:127.0.0.1:${v1.port},127.0.0.1:${v2.port}`;
    const serviceConfig = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });
    const clients = Array.from({ length: 1_000 }, () => echoClient(target, { 'grpc.service_config': serviceConfig }));
    t.after(() => clients.forEach((client) => client.close()));
    await Promise.all(clients.map(callOnce));
    assert.deepEqual([v1.accepted(), v2.accepted()], [1, 1]);
  });

  it('gives each split its own connections under grpc.use_local_subchannel_pool', async (t) => {
    const [v1, v2] = await backends(t);
    const splits = splitClients(t, 20, v1, v2, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    const answered = await callEach(splits);
    assert.deepEqual([v1.accepted(), v2.accepted()], [20, 20]);
    assertFiguresPerSplit(splits, answered);
  });

  it('keeps connections apart for splits whose channel options differ', async (t) => {
    const [v1, v2] = await backends(t);
    const plain = splitClients(t, 3, v1, v2);
    const tagged = splitClients(t, 3, v1, v2, { channelOptions: { 'grpc.primary_user_agent': 'other-agent' } });
    await callEach([...plain, ...tagged]);
    assert.deepEqual([v1.accepted(), v2.accepted()], [2, 2]);
  });

  it('keeps connections apart for splits whose authorities differ', async (t) => {
    const [v1, v2] = await backends(t);
    const first = splitClients(t, 2, v1, v2, { split: { authority: 'first.test' } });
    const second = splitClients(t, 2, v1, v2, { split: { authority: 'second.test' } });
    await callEach([...first, ...second]);
    assert.deepEqual([v1.accepted(), v2.accepted()], [2, 2]);
  });

  it('a new split over connected backends is READY at once; closing a split keeps the others connected', async (t) => {
    const [v1, v2] = await backends(t);
    const [first] = splitClients(t, 1, v1, v2);
    connect(first!.client);
    await waitForSubsetsReady(first!.split);
    const [second] = splitClients(t, 1, v1, v2);
    connect(second!.client);
    await waitForSubsetsReady(second!.split);
    assert.deepEqual([v1.accepted(), v2.accepted()], [1, 1], 'the second split connected again');
    first!.client.close();
    first!.split.close();
    const servers: string[] = [];
    for (let call = 0; call < 4; call++) servers.push((await callEcho(second!.client)).server);
    // Four picks at equal weights give each subset 2 +- 1 calls: both connections carried calls.
    assert.deepEqual(Object.keys(countOf(servers)).sort(), ['v1', 'v2']);
    assert.deepEqual([v1.accepted(), v2.accepted()], [1, 1], 'connections accepted');
    assert.deepEqual([v1.open(), v2.open()], [1, 1], 'connections open');
  });
});

const noOpenssl = hasOpenssl() ? false : 'the openssl CLI is not installed';

describe('connections shared between splits over TLS', { skip: noOpenssl }, () => {
  it('shares a connection between splits with equal credentials only, as grpc-js compares them', async (t) => {
    const pki = makeTestPki();
    const keyPair = { private_key: pki.good.key, cert_chain: pki.good.cert };
    const v1 = await startServer('v1', 0, grpc.ServerCredentials.createSsl(null, [keyPair], false));
    const v2 = await startServer('v2', 0, grpc.ServerCredentials.createSsl(null, [keyPair], false));
    t.after(() => Promise.all([v1.kill(), v2.kill()]));
    const split = { authority: 'good.test' };
    const same = splitClients(t, 3, v1, v2, { split, credentials: grpc.credentials.createSsl(pki.ca) });
    // A second createSsl() makes a second secure context, which grpc-js never counts as equal.
    const other = splitClients(t, 1, v1, v2, { split, credentials: grpc.credentials.createSsl(pki.ca) });
    await callEach([...same, ...other]);
    assert.deepEqual([v1.accepted(), v2.accepted()], [2, 2]);
  });
});

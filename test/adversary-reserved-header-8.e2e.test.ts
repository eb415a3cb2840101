/**
 * The reserved header `x-traffic-split` against every call path an outside user can build: it
 * must never reach a server through a split's channel (README, "Routing hints never leave the
 * process"), now that the split's interceptor removes it once per call and the picker only from
 * calls that interceptor did not see.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { callEcho, echoClient, type EchoClientInstance } from './helpers/echo-service.js';
import { startServer } from './helpers/servers.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';
import { methodServiceConfig, quickRetryPolicy } from './helpers/service-config.js';

const RESERVED = 'x-traffic-split';
const HUGE = 'h'.repeat(64 * 1024);

/** Adds the reserved header in several spellings, values and sizes. */
function forge(metadata: grpc.Metadata): grpc.Metadata {
  metadata.add('X-Traffic-Split', 'a;s=v1');
  metadata.add('x-traffic-split', 'b');
  metadata.add('X-TRAFFIC-SPLIT', HUGE);
  return metadata;
}

const forged = (): grpc.Metadata => forge(new grpc.Metadata());

const adder: grpc.Interceptor = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => next(forge(metadata), listener),
  });

/** Servers v1, v2, base recording, per call of any kind, whether the reserved header arrived. */
async function servers(t: TestContext) {
  const arrived: string[] = [];
  const recording: grpc.ServerInterceptor = (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            arrived.push(`${method.path} ${metadata.get(RESERVED).length}`);
            pass(metadata);
          },
        }),
    });
  const insecure = grpc.ServerCredentials.createInsecure();
  const v1 = await startServer('v1', 0, insecure, { interceptors: [recording] });
  const v2 = await startServer('v2', 0, insecure, { interceptors: [recording] });
  const base = await startServer('base', 0, insecure, { interceptors: [recording] });
  t.after(() => Promise.all([v1.kill(), v2.kill(), base.kill()]));
  return { arrived, v1, v2, base };
}

async function splitOver(
  t: TestContext,
  subsets: Record<string, string>,
  weights: Record<string, number>,
  extra: Partial<TrafficSplitOptions> = {},
): Promise<TrafficSplit> {
  const split = new TrafficSplit({ subsets, weights, ...extra });
  t.after(() => split.close());
  return split;
}

function clientOf(t: TestContext, target: string, options: grpc.ClientOptions): EchoClientInstance {
  const client = echoClient(target, options);
  t.after(() => client.close());
  return client;
}

const settle = (call: Promise<unknown>): Promise<unknown> => call.catch((error: Error) => error.message);

/** Every header count received must be 0. */
function assertNoneArrived(arrived: string[], what: string): void {
  assert.ok(arrived.length > 0, `${what}: no call arrived`);
  assert.deepEqual(
    arrived.filter((line) => !line.endsWith(' 0')),
    [],
    `${what}: ${arrived.join('; ')}`,
  );
}

describe('the reserved header through every client an outside user can build', () => {
  it('the control: a plain channel sends it', async (t) => {
    const { arrived, v1 } = await servers(t);
    const plain = clientOf(t, v1.target, {});
    await callEcho(plain, {}, forged());
    // Its three values arrive joined in one.
    assert.deepEqual(arrived, ['/test.Echo/Echo 1']);
  });

  it('is removed when your interceptors, interceptor providers or transformer add it', async (t) => {
    const { arrived, v1, v2 } = await servers(t);
    const split = await splitOver(
      t,
      { v1: v1.target, v2: v2.target },
      { v1: 50, v2: 50 },
      { retryOnOtherSubset: true },
    );
    const guard = split.channelOptions.callInvocationTransformer!;
    const clients: Record<string, EchoClientInstance> = {
      interceptors: clientOf(t, split.target, split.withChannelOptions({ interceptors: [adder] })),
      providers: clientOf(t, split.target, split.withChannelOptions({ interceptor_providers: [() => adder] })),
      transformer: clientOf(
        t,
        split.target,
        split.withChannelOptions({
          callInvocationTransformer: (properties) => ({ ...properties, metadata: forge(properties.metadata) }),
        }),
      ),
      'guard only': clientOf(t, split.target, { callInvocationTransformer: guard, interceptors: [adder] }),
      'no options': clientOf(t, split.target, { interceptors: [adder] }),
    };
    connect(...Object.values(clients));
    await waitForSubsetsReady(split);
    for (const [name, client] of Object.entries(clients)) {
      arrived.length = 0;
      for (let i = 0; i < 4; i++) {
        await settle(callEcho(client, { failWith: grpc.status.UNAVAILABLE, failOn: 'v2' }, forged()));
        await settle(callEcho(client, {}, forged(), split.route({ subset: 'v2' })));
        await settle(callEcho(client, {}, forged(), split.route({ key: `k${i}` })));
        await settle(callEcho(client, {}, forged(), { interceptors: [adder] }));
      }
      assertNoneArrived(arrived, name);
    }
  });

  it('is removed from every attempt of grpc-js retries and hedges, and the split retry', async (t) => {
    const { arrived, v1, v2 } = await servers(t);
    const split = await splitOver(
      t,
      { v1: v1.target, v2: v2.target },
      { v1: 50, v2: 50 },
      { retryOnOtherSubset: true },
    );
    const config = (policy: object) => methodServiceConfig({ service: 'test.Echo' }, policy);
    const hedging = config({
      hedgingPolicy: { maxAttempts: 3, hedgingDelay: '0s', nonFatalStatusCodes: ['UNAVAILABLE'] },
    });
    const retrying = config({ retryPolicy: quickRetryPolicy(4) });
    const clients = {
      hedging: clientOf(
        t,
        split.target,
        split.withChannelOptions({ 'grpc.service_config': hedging, interceptors: [adder] }),
      ),
      retrying: clientOf(
        t,
        split.target,
        split.withChannelOptions({ 'grpc.service_config': retrying, interceptors: [adder] }),
      ),
    };
    connect(...Object.values(clients));
    await waitForSubsetsReady(split);
    for (const [name, client] of Object.entries(clients)) {
      arrived.length = 0;
      for (let i = 0; i < 6; i++) await settle(callEcho(client, { failWith: grpc.status.UNAVAILABLE }, forged()));
      assert.ok(arrived.length > 6, `${name}: ${arrived.length}`);
      assertNoneArrived(arrived, name);
    }
  });

  it('is removed from streams, mirror copies and noise baselines', async (t) => {
    const { arrived, v1, v2, base } = await servers(t);
    const split = await splitOver(t, { v1: v1.target, v2: v2.target, base: base.target }, { v1: 100, v2: 0, base: 0 });
    const client = clientOf(t, split.target, split.withChannelOptions({ interceptors: [adder] }));
    connect(client);
    await waitForSubsetsReady(split);
    split.setMirror({ subset: 'v2', percent: 100, noise: { subset: 'base' } });
    for (let i = 0; i < 3; i++) await callEcho(client, { text: `r${i}` }, forged());
    await eventually(
      () => split.stats().mirror!.inFlight === 0 && arrived.length >= 9,
      () => JSON.stringify(split.stats().mirror) + arrived.join(';'),
    );
    const s = client as unknown as {
      stream(r: object, m: grpc.Metadata): grpc.ClientReadableStream<unknown>;
      chat(m: grpc.Metadata): grpc.ClientDuplexStream<unknown, unknown>;
    };
    await new Promise((resolve) =>
      s
        .stream({ count: 1 }, forged())
        .on('data', () => {})
        .on('close', resolve),
    );
    await new Promise((resolve) => {
      const chat = s.chat(forged());
      chat.on('data', () => {}).on('close', resolve);
      chat.end();
    });
    assertNoneArrived(arrived, 'mirror and streams');
  });

  it('is removed when one Metadata is reused for concurrent calls and changed between them', async (t) => {
    const { arrived, v1, v2 } = await servers(t);
    const split = await splitOver(
      t,
      { v1: v1.target, v2: v2.target },
      { v1: 50, v2: 50 },
      { retryOnOtherSubset: true },
    );
    const client = clientOf(t, split.target, split.channelOptions);
    connect(client);
    await waitForSubsetsReady(split);
    const shared = new grpc.Metadata({ waitForReady: true });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      calls.push(settle(callEcho(client, {}, shared, i % 2 ? split.route({ key: `${i}` }) : {})));
      forge(shared);
    }
    await Promise.all(calls);
    assertNoneArrived(arrived, 'reused');
  });

  it('is removed on a channel shared by two splits, and by a client of split A on split B', async (t) => {
    const { arrived, v1, v2 } = await servers(t);
    const a = await splitOver(t, { v1: v1.target, v2: v2.target }, { v1: 50, v2: 50 }, { name: 'a' });
    const b = await splitOver(
      t,
      { v1: v1.target, v2: v2.target },
      { v1: 50, v2: 50 },
      { name: 'b', retryOnOtherSubset: true },
    );
    const ofB = clientOf(t, b.target, b.channelOptions);
    const aOnB = clientOf(
      t,
      b.target,
      a.withChannelOptions({ interceptors: [adder], channelOverride: ofB.getChannel() as grpc.Channel }),
    );
    connect(ofB);
    await waitForSubsetsReady(b);
    for (let i = 0; i < 6; i++) {
      await settle(callEcho(aOnB, {}, forged()));
      await settle(callEcho(ofB, {}, forged(), b.route({ key: `${i}` })));
    }
    assertNoneArrived(arrived, 'shared');
  });
});

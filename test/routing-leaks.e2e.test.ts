import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { callEcho, echoClient, type EchoReply } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';
import { startServer } from './helpers/servers.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';
import { methodServiceConfig, quickRetryPolicy } from './helpers/service-config.js';

const UNAVAILABLE_ON_V2 = { failWith: grpc.status.UNAVAILABLE, failOn: 'v2' };

/** The call's outcome as a string: the serving subset, or the status code name and details. */
function outcome(call: Promise<EchoReply>): Promise<string> {
  return call.then(
    (reply) => reply.server,
    (error: grpc.ServiceError) => `${grpc.status[error.code]}: ${error.details}`,
  );
}

/** Rejects if `promise` has not settled after `ms` (a hang guard, not a timing assertion). */
function hangGuard<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

describe('retryOnOtherSubset with no other subset to retry on', () => {
  it('ends a call failed by v2 at 0/100 at once with its own UNAVAILABLE, not at a 20 s deadline', async (t) => {
    const { client, split } = await rig(t, { v1: 0, v2: 100 }, { retryOnOtherSubset: true });
    const startedAt = performance.now();
    const result = await outcome(
      callEcho(client, UNAVAILABLE_ON_V2, new grpc.Metadata(), { deadline: Date.now() + 20_000 }),
    );
    t.diagnostic(`failed after ${(performance.now() - startedAt).toFixed(1)} ms (deadline 20 s)`);
    assert.equal(result, 'UNAVAILABLE: v2 fails with 14');
    // A call with a sticky key is retried the same way, and ends the same way.
    const keyed = await outcome(
      callEcho(client, UNAVAILABLE_ON_V2, new grpc.Metadata(), {
        ...split.route({ key: 'user-1' }),
        deadline: Date.now() + 20_000,
      }),
    );
    assert.equal(keyed, 'UNAVAILABLE: v2 fails with 14');
    const stats = split.stats();
    assert.deepEqual(stats.subsets['v2']!.codes, { UNAVAILABLE: 2 });
    assert.equal(stats.subsets['v1']!.started, 0);
    assert.equal(stats.subsets['v2']!.inFlight, 0);
  });

  it('ends such a call without a deadline too, also under wait-for-ready', async (t) => {
    const { client } = await rig(t, { v1: 0, v2: 100 }, { retryOnOtherSubset: true });
    const calls: grpc.ClientUnaryCall[] = [];
    const call = (metadata: grpc.Metadata) =>
      outcome(
        new Promise<EchoReply>((resolve, reject) => {
          calls.push(
            client.echo(UNAVAILABLE_ON_V2, metadata, {}, (error, reply) => (error ? reject(error) : resolve(reply!))),
          );
        }),
      );
    try {
      const results = await hangGuard(
        Promise.all([call(new grpc.Metadata()), call(new grpc.Metadata({ waitForReady: true }))]),
        15_000,
        'a call without deadline',
      );
      assert.deepEqual(results, ['UNAVAILABLE: v2 fails with 14', 'UNAVAILABLE: v2 fails with 14']);
    } finally {
      for (const c of calls) c.cancel();
    }
  });

  it('ends a call failed by v2 with its own failure while v1 is down', async (t) => {
    const { client, split, v1 } = await rig(t, { v1: 50, v2: 50 }, { retryOnOtherSubset: true });
    await v1.kill();
    await eventually(
      () => split.stats().subsets['v1']!.state !== 'READY',
      () => JSON.stringify(split.stats().subsets['v1']),
      10_000,
    );
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      results.push(
        await outcome(callEcho(client, UNAVAILABLE_ON_V2, new grpc.Metadata(), { deadline: Date.now() + 20_000 })),
      );
    }
    assert.deepEqual(results, Array(4).fill('UNAVAILABLE: v2 fails with 14'));
    assert.deepEqual(split.stats().subsets['v2']!.codes, { UNAVAILABLE: 4 });
  });

  it('still retries on v1 when v1 is READY and weighted', async (t) => {
    const { client, split } = await rig(t, { v1: 1, v2: 99 }, { retryOnOtherSubset: true });
    const results: string[] = [];
    for (let i = 0; i < 10; i++) results.push(await outcome(callEcho(client, UNAVAILABLE_ON_V2)));
    assert.deepEqual(results, Array(10).fill('v1'));
    const stats = split.stats();
    assert.deepEqual(stats.subsets['v1']!.codes, { OK: 10 });
    assert.ok(stats.subsets['v2']!.finished >= 9, JSON.stringify(stats.subsets['v2']));
    assert.deepEqual(stats.subsets['v2']!.codes, { UNAVAILABLE: stats.subsets['v2']!.finished });
  });
});

describe('routing hints never leave the process', () => {
  it("refuses split A's route() on a channel of split B: nothing reaches a server", async (t) => {
    const a = await rig(t, { v1: 50, v2: 50 }, { name: 'a' });
    const b = await rig(t, { v1: 100, v2: 0 }, { name: 'b' });
    const results: string[] = [];
    for (let i = 0; i < 5; i++)
      results.push(await outcome(callEcho(b.client, {}, new grpc.Metadata(), a.split.route({ subset: 'v2' }))));
    const expected =
      'UNAVAILABLE: traffic_split: route() call options of split "a" used on a channel of another split; ' +
      "they only work on clients built from their own split's target";
    assert.deepEqual(results, Array(5).fill(expected));
    for (const split of [a.split, b.split]) {
      for (const subset of ['v1', 'v2'])
        assert.equal(split.stats().subsets[subset]!.started, 0, `${split.name} ${subset}`);
    }
    // B's own calls are unaffected and carry no hint.
    const plain = await callEcho(b.client);
    assert.equal(plain.server, 'v1');
    assert.ok(!plain.metadataKeys!.includes('x-traffic-split'), plain.metadataKeys!.join());
  });

  it("refuses split A's route() on a plain channel given A.channelOptions, before anything is sent", async (t) => {
    const a = await rig(t, { v1: 50, v2: 50 }, { name: 'a' });
    const plain = echoClient(a.v1.target, a.split.channelOptions);
    t.after(() => plain.close());
    const target = plain.getChannel().getTarget();
    const result = await outcome(callEcho(plain, {}, new grpc.Metadata(), a.split.route({ subset: 'v2' })));
    assert.equal(
      result,
      'UNAVAILABLE: Getting metadata from plugin failed with error: ' +
        'traffic_split: route() call options of split "a" used on a client of ' +
        `${target}; they only work on clients built from the split's target ${a.split.target}`,
    );
    // The same client's plain calls go through and carry no hint.
    const reply = await callEcho(plain);
    assert.equal(reply.server, 'v1');
    assert.ok(!reply.metadataKeys!.includes('x-traffic-split'), reply.metadataKeys!.join());
  });

  it('sends no hint when only A.interceptor is installed on a plain channel: the call is a plain call', async (t) => {
    const a = await rig(t, { v1: 50, v2: 50 }, { name: 'a' });
    const plain = echoClient(a.v1.target, { interceptors: [a.split.interceptor] });
    t.after(() => plain.close());
    for (const route of [{ subset: 'v2' }, { key: 'user-1' }] as const) {
      const reply = await callEcho(plain, {}, new grpc.Metadata(), a.split.route(route));
      assert.equal(reply.server, 'v1');
      assert.deepEqual(reply.metadataKeys, ['user-agent']);
    }
  });

  it(
    'strips a forged x-traffic-split header on a split channel, ' +
      "even one with the split's token, and routes by weight",
    async (t) => {
      const { client, split, v2 } = await rig(t, { v1: 0, v2: 100 });
      const token = (split as unknown as { state: { token: string } }).state.token;
      const forged = (value: string) => {
        const metadata = new grpc.Metadata();
        metadata.set('x-traffic-split', value);
        return metadata;
      };
      // The control: a plain channel to the same server sends the header, and the server sees it.
      const plain = echoClient(v2.target);
      t.after(() => plain.close());
      assert.deepEqual((await callEcho(plain, {}, forged(`${token};s=v1`))).metadataKeys, [
        'user-agent',
        'x-traffic-split',
      ]);
      // Before route() was ever used (keyless fast path), then after.
      for (const phase of ['before route()', 'after route()']) {
        for (const value of ['forged;s=v1', `${token};s=v1`, `${token};k=user-1`]) {
          const reply = await callEcho(client, {}, forged(value));
          assert.equal(reply.server, 'v2', `${phase}: ${value}`);
          assert.deepEqual(reply.metadataKeys, ['user-agent'], `${phase}: ${value}`);
        }
        split.route({ subset: 'v1' });
      }
    },
  );

  it("leaves the caller's Metadata and its options untouched: reusing them routes nothing", async (t) => {
    const { client, split } = await rig(t, { v1: 0, v2: 100 }, { retryOnOtherSubset: true });
    const options = { waitForReady: true };
    const metadata = new grpc.Metadata(options);
    metadata.set('x-mine', '1');
    assert.equal((await callEcho(client, {}, metadata, split.route({ subset: 'v1' }))).server, 'v1');
    assert.deepEqual(Object.keys(metadata.getMap()), ['x-mine']);
    assert.equal(metadata.getOptions(), options);
    assert.deepEqual(Reflect.ownKeys(options), ['waitForReady']);
    const again = await callEcho(client, {}, metadata);
    assert.equal(again.server, 'v2');
    assert.deepEqual(again.metadataKeys, ['user-agent', 'x-mine']);
  });
});

describe('the refusal on other channels', () => {
  it('applies to server-streaming calls too', async (t) => {
    const v1 = await startServer('v1');
    const a = new TrafficSplit({ name: 'a', subsets: { v1: v1.target }, weights: { v1: 1 } });
    const plain = echoClient(v1.target, a.channelOptions);
    const own = echoClient(a.target, a.channelOptions);
    t.after(async () => {
      plain.close();
      own.close();
      a.close();
      await v1.kill();
    });
    connect(own);
    await waitForSubsetsReady(a);
    const collect = (client: typeof plain) =>
      new Promise<string>((resolve) => {
        const servers: string[] = [];
        const stream = client.stream({ count: 2 }, a.route({ subset: 'v1' }));
        stream.on('data', (reply: EchoReply) => servers.push(reply.server));
        stream.on('error', (error: grpc.ServiceError) =>
          resolve(`${grpc.status[error.code]} after ${servers.length}`),
        );
        stream.on('end', () => resolve(servers.join(',')));
      });
    assert.equal(await collect(own), 'v1,v1');
    assert.equal(await collect(plain), 'UNAVAILABLE after 0');
  });
});

describe('the reserved header, every way a client can send it', () => {
  it(
    'never reaches a server from a split channel, in any case, with several values, on unary and ' +
      "streaming calls and on every attempt, with or without the split's interceptor; -bin is another header",
    async (t) => {
      // Every server records the metadata keys of every call it receives, whatever its kind.
      const received: string[][] = [];
      const recording: grpc.ServerInterceptor = (_method, call) =>
        new grpc.ServerInterceptingCall(call, {
          start: (next) =>
            next({
              onReceiveMetadata: (metadata, pass) => {
                received.push(Object.keys(metadata.getMap()).sort());
                pass(metadata);
              },
            }),
        });
      const v1 = await startServer('v1', 0, grpc.ServerCredentials.createInsecure(), { interceptors: [recording] });
      const v2 = await startServer('v2', 0, grpc.ServerCredentials.createInsecure(), { interceptors: [recording] });
      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 50, v2: 50 } });
      const retrying = methodServiceConfig({ service: 'test.Echo' }, { retryPolicy: quickRetryPolicy(3) });
      const clients = {
        split: echoClient(split.target, split.channelOptions),
        'split, retrying': echoClient(split.target, split.withChannelOptions({ 'grpc.service_config': retrying })),
        'no interceptor': echoClient(split.target, {}),
        plain: echoClient(v1.target),
      };
      t.after(async () => {
        for (const client of Object.values(clients)) client.close();
        split.close();
        await Promise.all([v1.kill(), v2.kill()]);
      });
      const forged = (): grpc.Metadata => {
        const metadata = new grpc.Metadata();
        metadata.add('X-Traffic-Split', 'a;s=v1');
        metadata.add('x-traffic-split', 'b');
        metadata.add('X-TRAFFIC-SPLIT', '');
        metadata.add('x-traffic-split-bin', Buffer.from([0, 1, 2]));
        return metadata;
      };
      /** The streaming methods with metadata, which the helper's typings leave out. */
      interface WithMetadata {
        stream(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<unknown>;
        collect(metadata: grpc.Metadata, callback: () => void): grpc.ClientWritableStream<unknown>;
        chat(metadata: grpc.Metadata): grpc.ClientDuplexStream<unknown, unknown>;
      }
      const sent = async (client: ReturnType<typeof echoClient>): Promise<string[][]> => {
        const streams = client as unknown as WithMetadata;
        received.length = 0;
        // Unary (v2 fails it once, so the retrying channel makes a second attempt), then a
        // server stream, a client stream and a bidi stream.
        await callEcho(client, { failWith: grpc.status.UNAVAILABLE, failOn: 'v2' }, forged()).catch(() => null);
        await new Promise((resolve) =>
          streams
            .stream({ count: 1 }, forged())
            .on('data', () => {})
            .on('close', resolve),
        );
        await new Promise<void>((resolve) => streams.collect(forged(), resolve).end());
        await new Promise((resolve) => {
          const chat = streams.chat(forged());
          chat.on('data', () => {}).on('close', resolve);
          chat.end();
        });
        return [...received];
      };
      const reserved = (keys: string[][]) =>
        keys.map((k) => `${k.includes('x-traffic-split')} ${k.includes('x-traffic-split-bin')}`);
      assert.deepEqual(
        reserved(await sent(clients.plain)),
        Array(4).fill('true true'),
        'the control: a plain channel',
      );
      for (const name of ['split', 'split, retrying', 'no interceptor'] as const) {
        for (let round = 0; round < 4; round++) {
          const keys = await sent(clients[name]);
          // The unary call fails on v2: retried once by the retrying channel when it lands there.
          assert.ok(keys.length >= 4, `${name}: ${keys.length} calls received`);
          assert.deepEqual(reserved(keys), Array(keys.length).fill('false true'), `${name}, round ${round}`);
        }
      }
    },
  );
});

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { callEcho, type EchoClientInstance, type EchoReply } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';

const UNAVAILABLE_ON_V2 = { failWith: grpc.status.UNAVAILABLE, failOn: 'v2' };
const MISSING_INTERCEPTOR =
  'UNAVAILABLE: traffic_split: split "split" has retryOnOtherSubset on, but this client lacks its interceptor; ' +
  'build the client from split.target with split.channelOptions, or with ' +
  'split.withChannelOptions({ interceptors: [...yours] }) to add your own interceptors';

/** An application interceptor that records the final status of every call it sees. */
function recorder(): { interceptor: grpc.Interceptor; seen: string[] } {
  const seen: string[] = [];
  const interceptor: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveStatus(status, forward) {
            seen.push(grpc.status[status.code]!);
            forward(status);
          },
        });
      },
    });
  return { interceptor, seen };
}

function outcome(call: Promise<EchoReply>): Promise<string> {
  return call.then(
    (reply) => reply.server,
    (error: grpc.ServiceError) => `${grpc.status[error.code]}: ${error.details}`,
  );
}

/** Two servers and a split; `clientOptions` builds the one client from the split. */
async function setup(
  t: TestContext,
  weights: Record<string, number>,
  extra: Partial<TrafficSplitOptions>,
  clientOptions: (split: TrafficSplit) => grpc.ClientOptions,
): Promise<{ split: TrafficSplit; client: EchoClientInstance }> {
  const { split, client } = await rig(t, weights, extra, clientOptions);
  return { split, client };
}

async function calls(n: number, call: () => Promise<EchoReply>): Promise<string[]> {
  const results: string[] = [];
  for (let i = 0; i < n; i++) results.push(await outcome(call()));
  return results;
}

describe('adding your own interceptors', () => {
  it('split.withChannelOptions() runs yours once per call, while route() and retries work', async (t) => {
    const mine = recorder();
    const { split, client } = await setup(t, { v1: 50, v2: 50 }, { retryOnOtherSubset: true }, (s) =>
      s.withChannelOptions({ interceptors: [mine.interceptor], 'grpc.max_reconnect_backoff_ms': 1_000 }),
    );
    assert.deepEqual(await calls(10, () => callEcho(client, UNAVAILABLE_ON_V2)), Array(10).fill('v1'));
    assert.deepEqual(
      await calls(3, () => callEcho(client, {}, new grpc.Metadata(), split.route({ subset: 'v2' }))),
      Array(3).fill('v2'),
    );
    assert.deepEqual(mine.seen, Array(13).fill('OK'));
    const stats = split.stats();
    assert.deepEqual(stats.subsets['v1']!.codes, { OK: 10 });
    // Weights 50/50: 5 of the 10 unrouted calls (within one) first went to v2 and were retried.
    const failedOnV2 = stats.subsets['v2']!.codes.UNAVAILABLE!;
    assert.ok(failedOnV2 >= 4 && failedOnV2 <= 6, JSON.stringify(stats.subsets['v2']));
    assert.deepEqual(stats.subsets['v2']!.codes, { UNAVAILABLE: failedOnV2, OK: 3 });
  });

  it('split.withChannelOptions() joins interceptor providers and runs your callInvocationTransformer first', async (t) => {
    const mine = recorder();
    const transformed: string[] = [];
    const options: grpc.ClientOptions = {
      interceptor_providers: [() => mine.interceptor],
      callInvocationTransformer: (properties) => {
        transformed.push(properties.methodDefinition.path);
        return properties;
      },
    };
    const { split, client } = await setup(t, { v1: 50, v2: 50 }, { retryOnOtherSubset: true }, (s) =>
      s.withChannelOptions(options),
    );
    assert.deepEqual(Object.keys(options), ['interceptor_providers', 'callInvocationTransformer']);
    assert.equal(options.interceptor_providers!.length, 1);
    assert.deepEqual(await calls(4, () => callEcho(client, UNAVAILABLE_ON_V2)), Array(4).fill('v1'));
    assert.equal(await outcome(callEcho(client, {}, new grpc.Metadata(), split.route({ subset: 'v2' }))), 'v2');
    assert.deepEqual(mine.seen, Array(5).fill('OK'));
    assert.deepEqual(transformed, Array(5).fill('/test.Echo/Echo'));
  });

  it('spreading your interceptors over split.channelOptions keeps route() working', async (t) => {
    const mine = recorder();
    const { split, client } = await setup(t, { v1: 0, v2: 100 }, {}, (s) => ({
      ...s.channelOptions,
      interceptors: [mine.interceptor],
    }));
    assert.deepEqual(
      await calls(3, () => callEcho(client, {}, new grpc.Metadata(), split.route({ subset: 'v1' }))),
      Array(3).fill('v1'),
    );
    assert.deepEqual(await calls(2, () => callEcho(client)), ['v2', 'v2']);
    assert.deepEqual(mine.seen, Array(5).fill('OK'));
  });

  it(
    'spreading your interceptors over split.channelOptions with ' +
      'retryOnOtherSubset fails unary calls loudly, before sending',
    async (t) => {
      const mine = recorder();
      const { split, client } = await setup(t, { v1: 50, v2: 50 }, { retryOnOtherSubset: true }, (s) => ({
        ...s.channelOptions,
        interceptors: [mine.interceptor],
      }));
      assert.deepEqual(await calls(4, () => callEcho(client)), Array(4).fill(MISSING_INTERCEPTOR));
      for (const subset of ['v1', 'v2']) assert.equal(split.stats().subsets[subset]!.started, 0);
      // Streaming calls are never retried, so they need no interceptor.
      const servers = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        client
          .stream({ count: 2 })
          .on('data', (reply: EchoReply) => got.push(reply.server))
          .on('error', reject)
          .on('end', () => resolve(got));
      });
      assert.equal(servers.length, 2);
    },
  );

  it("call-level interceptors, which replace the client's, keep route() working and make retries fail loudly", async (t) => {
    const mine = recorder();
    const { split, client } = await setup(
      t,
      { v1: 0, v2: 100 },
      { retryOnOtherSubset: true },
      (s) => s.channelOptions,
    );
    const route = { ...split.route({ subset: 'v1' }), interceptors: [mine.interceptor] };
    assert.equal(await outcome(callEcho(client, {}, new grpc.Metadata(), route)), 'v1');
    assert.equal(
      await outcome(callEcho(client, {}, new grpc.Metadata(), { interceptors: [mine.interceptor] })),
      MISSING_INTERCEPTOR,
    );
    assert.deepEqual(mine.seen, ['OK', 'UNAVAILABLE']);
  });

  it('split.withChannelOptions() rejects what is not client options, naming the field', () => {
    const split = new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
    try {
      assert.throws(() => split.withChannelOptions(null as never), {
        message: 'options: expected client options (an object), got `null` (null)',
      });
      assert.throws(() => split.withChannelOptions({ interceptors: 'x' } as never), {
        message: 'options.interceptors: expected an array, got `"x"` (string)',
      });
      assert.throws(() => split.withChannelOptions({ callInvocationTransformer: 1 } as never), {
        message: 'options.callInvocationTransformer: expected a function, got `1` (number)',
      });
      const composed = split.withChannelOptions({ 'grpc.keepalive_time_ms': 1 });
      assert.deepEqual(composed.interceptors, [split.interceptor]);
      assert.equal(composed['grpc.keepalive_time_ms'], 1);
      assert.equal(typeof composed.callInvocationTransformer, 'function');
    } finally {
      split.close();
    }
  });
});

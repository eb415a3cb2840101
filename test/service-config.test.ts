import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { register, TrafficSplit } from '../src/index.js';
import {
  callEcho,
  echoClient,
  echoHandlers,
  echoService,
  type EchoClientInstance,
  type EchoReply,
  type EchoRequest,
} from './helpers/echo-service.js';
import { countOf, maxWindowDeviation } from './helpers/sequences.js';
import { startServer } from './helpers/servers.js';
import { RESOLUTION_ERRORS_REACH_POLICY } from './helpers/grpc-behaviour.js';
import { closeAfter } from './helpers/split-helpers.js';

describe('the policy from a plain service config', () => {
  it('splits a channel configured by JSON alone', async (t) => {
    register();
    const v1 = await startServer('v1');
    const v2 = await startServer('v2');
    const serviceConfig = {
      loadBalancingConfig: [
        { traffic_split: { subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 3, v2: 1 } } },
      ],
    };
    // The channel's own target only names the service (and sets the authority); the policy
    // resolves each subset's target itself. Before grpc-js 1.14 that target must still resolve.
    const target = RESOLUTION_ERRORS_REACH_POLICY ? 'dns:///reporter.example.test:443' : 'dns:///localhost:443';
    const client = echoClient(target, { 'grpc.service_config': JSON.stringify(serviceConfig) });
    t.after(async () => {
      client.close();
      await Promise.all([v1.kill(), v2.kill()]);
    });
    // Wait until both subsets have served once, then measure whole cycles.
    const warmup = new Set<string>();
    for (let i = 0; i < 50 && warmup.size < 2; i++)
      warmup.add((await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 5_000 })).server);
    assert.equal(warmup.size, 2);
    const servers: string[] = [];
    for (let i = 0; i < 400; i++) servers.push((await callEcho(client)).server);
    // 100 +- 1 to v2: the schedule's phase and order within its bound are random.
    assert.ok(
      Math.abs(countOf(servers)['v2']! - 100) <= 1 && countOf(servers)['v1']! + countOf(servers)['v2']! === 400,
      JSON.stringify(countOf(servers)),
    );
    assert.ok(maxWindowDeviation(servers, { v1: 3, v2: 1 }, 4) <= 1);
  });

  it("refuses a split's own config (weights from the split) on a channel that is not the split's", async (t) => {
    register();
    const v1 = await startServer('v1');
    // What a split's resolver hands its channels: the split's settings, no weights.
    const serviceConfig = {
      loadBalancingConfig: [{ traffic_split: { subsets: { v1: v1.target }, weightsFrom: 'copied-1' } }],
    };
    const target = RESOLUTION_ERRORS_REACH_POLICY ? 'dns:///reporter.example.test:443' : 'dns:///localhost:443';
    const client = echoClient(target, { 'grpc.service_config': JSON.stringify(serviceConfig) });
    t.after(async () => {
      client.close();
      await v1.kill();
    });
    await assert.rejects(callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 20_000 }), {
      code: grpc.status.UNAVAILABLE,
      details:
        'traffic_split: this config takes its weights from split "copied-1", which ' +
        'only channels built from that split\'s target can use; write "weights" instead',
    });
    // No subset child was created: nothing connected to the subset.
    assert.equal(v1.accepted(), 0);
  });

  it('logs a rejected traffic_split config at ERROR with the field and value', async (t) => {
    register();
    const lines: string[] = [];
    grpc.setLogger({ error: (...args: unknown[]) => lines.push(args.join(' ')) } as unknown as Console);
    t.after(() => grpc.setLogger(console));
    const bad = {
      loadBalancingConfig: [
        { traffic_split: { subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' }, weights: { v1: 1 } } },
      ],
    };
    const client = echoClient('ipv4:127.0.0.1:1', { 'grpc.service_config': JSON.stringify(bad) });
    t.after(() => client.close());
    await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 1_000 }).catch(() => undefined);
    assert.ok(
      lines.some((line) =>
        line.includes(
          'traffic_split: service config rejected: weights.v2: ' +
            'missing; every subset needs a weight (0 sends it no calls)',
        ),
      ),
      lines.join('\n'),
    );
  });
});

/**
 * A server whose reply depends on the request's text: `slow` answers after 2.5 s, `flaky:<id>`
 * fails UNAVAILABLE on the first two attempts of `<id>`, `hedge:<id>` answers its first attempt
 * after 3 s and the others at once, `big` answers with 100 kB. Attempts are counted per id.
 */
async function behaviourServer(t: TestContext): Promise<{ target: string; attempts: Map<string, number> }> {
  const attempts = new Map<string, number>();
  const server = new grpc.Server();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  server.addService(echoService, {
    ...echoHandlers('v1'),
    echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      const text = call.request.text ?? '';
      const [kind, id = ''] = text.split(':');
      const attempt = (attempts.get(text) ?? 0) + 1;
      attempts.set(text, attempt);
      const reply = () =>
        callback(null, { server: 'v1', text: kind === 'big' ? 'x'.repeat(100_000) : String(attempt) });
      if (kind === 'slow') later(2_500, reply);
      else if (kind === 'flaky' && attempt <= 2)
        callback({ code: grpc.status.UNAVAILABLE, details: `attempt ${attempt} of ${id} fails` });
      else if (kind === 'hedge' && attempt === 1) later(3_000, reply);
      else reply();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  t.after(() => {
    for (const timer of timers) clearTimeout(timer);
    server.forceShutdown();
  });
  return { target: `ipv4:127.0.0.1:${port}`, attempts };
}

type Ending = { code: string; details: string; ms: number; text?: string };

function ending(client: EchoClientInstance, request: EchoRequest, options: grpc.CallOptions = {}): Promise<Ending> {
  const start = performance.now();
  return callEcho(client, request, new grpc.Metadata(), options).then(
    (reply) => ({
      code: 'OK',
      details: '',
      ms: performance.now() - start,
      text: reply.text?.length === 100_000 ? '100 kB' : reply.text,
    }),
    (error: grpc.ServiceError) => ({
      code: grpc.status[error.code]!,
      details: error.details,
      ms: performance.now() - start,
    }),
  );
}

/** A plain channel and a split channel to the same target, given the same options. */
function both(
  t: TestContext,
  target: string,
  options: grpc.ChannelOptions,
): { plain: EchoClientInstance; split: EchoClientInstance } {
  const split = new TrafficSplit({ subsets: { v1: target }, weights: { v1: 1 } });
  const plain = echoClient(target, options);
  const splitClient = echoClient(split.target, { ...split.channelOptions, ...options });
  closeAfter(t, plain, splitClient, split);
  return { plain, split: splitClient };
}

const ECHO_METHOD = [{ service: 'test.Echo', method: 'Echo' }];
const serviceConfigOf = (methodConfig: object) => ({
  'grpc.service_config': JSON.stringify({ methodConfig: [{ name: ECHO_METHOD, ...methodConfig }] }),
});

describe('grpc.service_config on a split channel, as on a plain channel', () => {
  for (const [form, timeout] of [
    ['"1s"', '1s'],
    ['{ seconds: 1, nanos: 0 }', { seconds: 1, nanos: 0 }],
  ] as const) {
    it(`ends a 2.5 s call with DEADLINE_EXCEEDED under a methodConfig timeout of ${form}`, async (t) => {
      const { target } = await behaviourServer(t);
      const { plain, split } = both(t, target, serviceConfigOf({ timeout }));
      const [onPlain, onSplit] = await Promise.all([ending(plain, { text: 'slow' }), ending(split, { text: 'slow' })]);
      t.diagnostic(JSON.stringify({ onPlain, onSplit }));
      for (const end of [onPlain, onSplit]) {
        assert.equal(end.code, 'DEADLINE_EXCEEDED');
        assert.ok(end.ms < 2_400, `ended before the server's 2.5 s answer: ${end.ms} ms`);
      }
    });
  }

  it('retries by the retryPolicy: UNAVAILABLE twice, then OK, with the same attempts at the server', async (t) => {
    const { target, attempts } = await behaviourServer(t);
    const retryPolicy = {
      maxAttempts: 4,
      initialBackoff: '0.01s',
      maxBackoff: '0.05s',
      backoffMultiplier: 2,
      retryableStatusCodes: ['UNAVAILABLE'],
    };
    const { plain, split } = both(t, target, serviceConfigOf({ retryPolicy }));
    const onPlain = await ending(plain, { text: 'flaky:plain' }, { deadline: Date.now() + 10_000 });
    const onSplit = await ending(split, { text: 'flaky:split' }, { deadline: Date.now() + 10_000 });
    assert.deepEqual([onPlain.code, onPlain.text], ['OK', '3']);
    assert.deepEqual([onSplit.code, onSplit.text], ['OK', '3']);
    assert.deepEqual([attempts.get('flaky:plain'), attempts.get('flaky:split')], [3, 3]);
  });

  it('hedges by the hedgingPolicy: the second attempt answers long before the slow first', async (t) => {
    const { target, attempts } = await behaviourServer(t);
    const hedgingPolicy = { maxAttempts: 2, hedgingDelay: '0.3s' };
    const { plain, split } = both(t, target, serviceConfigOf({ hedgingPolicy }));
    const [onPlain, onSplit] = await Promise.all([
      ending(plain, { text: 'hedge:plain' }, { deadline: Date.now() + 10_000 }),
      ending(split, { text: 'hedge:split' }, { deadline: Date.now() + 10_000 }),
    ]);
    t.diagnostic(JSON.stringify({ onPlain, onSplit }));
    for (const end of [onPlain, onSplit]) {
      assert.deepEqual([end.code, end.text], ['OK', '2'], 'answered by the hedged attempt');
      assert.ok(end.ms < 2_900, `before the first attempt's 3 s answer: ${end.ms} ms`);
    }
    assert.deepEqual([attempts.get('hedge:plain'), attempts.get('hedge:split')], [2, 2]);
  });

  it('treats a methodConfig waitForReady the same way on both channels', async (t) => {
    // Nothing listens on this port: the call cannot be served, only failed or kept waiting.
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const { plain, split } = both(t, `ipv4:127.0.0.1:${port}`, {
      ...serviceConfigOf({ waitForReady: true }),
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 100,
    });
    const [onPlain, onSplit] = await Promise.all([
      ending(plain, {}, { deadline: Date.now() + 2_000 }),
      ending(split, {}, { deadline: Date.now() + 2_000 }),
    ]);
    t.diagnostic(JSON.stringify({ onPlain, onSplit }));
    assert.equal(onSplit.code, onPlain.code);
  });

  it('applies message size limits the same way on both channels', async (t) => {
    const { target } = await behaviourServer(t);
    const big = { text: 'r'.repeat(100_000) };
    const methodLimits = both(
      t,
      target,
      serviceConfigOf({
        maxRequestBytes: 1_000,
        maxResponseBytes: 1_000,
        maxRequestMessageBytes: 1_000,
        maxResponseMessageBytes: 1_000,
      }),
    );
    const methodEnds = await Promise.all(
      [methodLimits.plain, methodLimits.split].flatMap((client) => [
        ending(client, big),
        ending(client, { text: 'big' }),
      ]),
    );
    const channelLimits = both(t, target, {
      'grpc.max_send_message_length': 1_000,
      'grpc.max_receive_message_length': 1_000,
    });
    const channelEnds = await Promise.all(
      [channelLimits.plain, channelLimits.split].flatMap((client) => [
        ending(client, big),
        ending(client, { text: 'big' }),
      ]),
    );
    t.diagnostic(JSON.stringify({ methodEnds, channelEnds }));
    const codes = (ends: Ending[]) => ends.map((end) => end.code);
    // [plain request, plain response, split request, split response]
    assert.deepEqual(codes(methodEnds).slice(2), codes(methodEnds).slice(0, 2));
    assert.deepEqual(codes(channelEnds), [
      'RESOURCE_EXHAUSTED',
      'RESOURCE_EXHAUSTED',
      'RESOURCE_EXHAUSTED',
      'RESOURCE_EXHAUSTED',
    ]);
  });

  it('reports an invalid service config the way grpc-js does, with the same error on both channels', () => {
    const split = new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
    try {
      const bad = serviceConfigOf({ timeout: 'soon' });
      assert.throws(() => echoClient('ipv4:127.0.0.1:1', bad), { message: 'Invalid method config: invalid timeout' });
      assert.throws(() => echoClient(split.target, { ...split.channelOptions, ...bad }), {
        message: 'Invalid method config: invalid timeout',
      });
      // The split is untouched: a good channel still builds.
      echoClient(split.target, { ...split.channelOptions, ...serviceConfigOf({ timeout: '2s' }) }).close();
    } finally {
      split.close();
    }
  });
});

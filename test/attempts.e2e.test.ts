/**
 * The attempts of one call under a service config's hedgingPolicy and retryPolicy, on real
 * servers that log every attempt they receive (call id, and grpc-js's
 * `grpc-previous-rpc-attempts` header): with retryOnOtherSubset later attempts go to the other
 * subset; without it they stay in the call's subset, on another endpoint.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import {
  callEcho,
  echoClient,
  echoHandlers,
  echoService,
  type EchoClientInstance,
  type EchoReply,
  type EchoRequest,
} from './helpers/echo-service.js';
import { closeAfter, connect, waitForSubsetsReady } from './helpers/split-helpers.js';
import { quickRetryPolicy } from './helpers/service-config.js';

/** One attempt as a server saw it. */
interface Arrival {
  readonly server: string;
  readonly id: string;
  /** grpc-js's `grpc-previous-rpc-attempts`: 0 on a call's first attempt. */
  readonly previous: number;
}

/** What a server does with an attempt: answer now, answer after `delayMs`, or fail UNAVAILABLE. */
type Behaviour = (previous: number) => { delayMs: number } | 'unavailable' | 'answer';

interface LoggingServer {
  readonly name: string;
  readonly address: string;
  readonly target: string;
}

async function loggingServer(
  t: TestContext,
  name: string,
  log: Arrival[],
  behaviour: Behaviour,
): Promise<LoggingServer> {
  const server = new grpc.Server();
  server.addService(echoService, {
    ...echoHandlers(name),
    echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      const previous = Number(call.metadata.get('grpc-previous-rpc-attempts')[0] ?? 0);
      log.push({ server: name, id: call.request.text ?? '', previous });
      const action = behaviour(previous);
      if (action === 'unavailable')
        return callback({ code: grpc.status.UNAVAILABLE, details: `${name} is unavailable to first attempts` });
      const reply = () => callback(null, { server: name, text: call.request.text });
      if (action === 'answer') reply();
      else setTimeout(reply, action.delayMs).unref();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  t.after(() => server.forceShutdown());
  return { name, address: `127.0.0.1:${port}`, target: `ipv4:127.0.0.1:${port}` };
}

const methodConfig = (policy: object) => [{ name: [{ service: 'test.Echo' }], ...policy }];

/** A split over `subsets` and a client of it carrying `policy` in its service config. */
async function splitClient(
  t: TestContext,
  subsets: Record<string, string>,
  retryOnOtherSubset: boolean,
  policy: object,
): Promise<{ split: TrafficSplit; client: EchoClientInstance }> {
  const weights = Object.fromEntries(Object.keys(subsets).map((name) => [name, 50]));
  const split = new TrafficSplit({ subsets, weights, retryOnOtherSubset });
  const client = echoClient(
    split.target,
    split.withChannelOptions({ 'grpc.service_config': JSON.stringify({ methodConfig: methodConfig(policy) }) }),
  );
  closeAfter(t, client, split);
  connect(client);
  await waitForSubsetsReady(split);
  return { split, client };
}

/** The servers each call's attempts reached, in arrival order, by call id. */
function attemptsById(log: readonly Arrival[], prefix: string): Map<string, Arrival[]> {
  const byId = new Map<string, Arrival[]>();
  for (const arrival of log) {
    if (!arrival.id.startsWith(prefix)) continue;
    let list = byId.get(arrival.id);
    if (list === undefined) byId.set(arrival.id, (list = []));
    list.push(arrival);
  }
  return byId;
}

const p90 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.9) - 1]!;

/** `n` calls with ids `<prefix><i>`, `concurrency` at a time; their latencies. */
async function calls(client: EchoClientInstance, prefix: string, n: number, concurrency = 1): Promise<number[]> {
  const latencies: number[] = [];
  const one = async (i: number) => {
    const start = performance.now();
    const reply = await callEcho(client, { text: `${prefix}${i}` }, new grpc.Metadata(), {
      deadline: Date.now() + 10_000,
    });
    assert.equal(reply.text, `${prefix}${i}`);
    latencies.push(performance.now() - start);
  };
  for (let i = 0; i < n; i += concurrency)
    await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, (_, k) => one(i + k)));
  return latencies;
}

/** Calls (at most 50) until every one of `servers` has received two in a row: a plain
 * round_robin channel is READY with its first endpoint, and calls made before the others connect
 * all go there. */
async function warmUp(client: EchoClientInstance, log: readonly Arrival[], servers: readonly string[]): Promise<void> {
  const lastTwo = () =>
    new Set(
      log
        .filter((a) => a.id.startsWith('warm-'))
        .slice(-2)
        .map((a) => a.server),
    );
  for (let i = 0; i < 50 && lastTwo().size < servers.length; i++)
    await callEcho(client, { text: `warm-${i}` }, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
  assert.deepEqual([...lastTwo()].sort(), [...servers].sort());
}

describe('attempts of one call spread out', () => {
  it(
    'hedges to the other subset with retryOnOtherSubset: no call has ' +
      'both attempts on the slow v1 (as on a plain round_robin channel)',
    async (t) => {
      const log: Arrival[] = [];
      const v1 = await loggingServer(t, 'v1', log, () => ({ delayMs: 300 }));
      const v2 = await loggingServer(t, 'v2', log, () => 'answer');
      const hedgingPolicy = { hedgingPolicy: { maxAttempts: 2, hedgingDelay: '0.05s' } };
      const { split, client } = await splitClient(t, { v1: v1.target, v2: v2.target }, true, hedgingPolicy);
      const plain = echoClient(`ipv4:${v1.address},${v2.address}`, {
        'grpc.service_config': JSON.stringify({
          loadBalancingConfig: [{ round_robin: {} }],
          methodConfig: methodConfig(hedgingPolicy),
        }),
      });
      closeAfter(t, plain);
      await warmUp(plain, log, ['v1', 'v2']);

      const [splitLatencies, plainLatencies] = await Promise.all([
        calls(client, 'split-', 100),
        calls(plain, 'plain-', 100),
      ]);
      const outcome = (prefix: string) => {
        const calls = [...attemptsById(log, prefix).values()];
        return {
          firstOnV1: calls.filter((attempts) => attempts[0]!.server === 'v1').length,
          bothOnV1: calls.filter((attempts) => attempts.filter((a) => a.server === 'v1').length >= 2).length,
          hedgedToV2: calls.filter(
            (attempts) => attempts[0]!.server === 'v1' && attempts.some((a) => a.server === 'v2'),
          ).length,
        };
      };
      const [onSplit, onPlain] = [outcome('split-'), outcome('plain-')];
      t.diagnostic(
        `split ${JSON.stringify(onSplit)} p90 ${p90(splitLatencies).toFixed(0)} ms; ` +
          `plain ${JSON.stringify(onPlain)} p90 ${p90(plainLatencies).toFixed(0)} ms`,
      );
      assert.equal(onPlain.bothOnV1, 0, 'plain round_robin');
      assert.equal(onSplit.bothOnV1, 0, 'split');
      // The schedule sent half of the calls to v1 first; every one of them was hedged, to v2.
      assert.ok(Math.abs(onSplit.firstOnV1 - 50) <= 1, JSON.stringify(onSplit));
      assert.equal(onSplit.hedgedToV2, onSplit.firstOnV1);
      // Each attempt is counted where it ran: v2 ran its 50 first attempts and the 50 hedges (v1 may
      // also have run hedges of calls v2 was slow to answer: v2's speed is not the point here).
      const stats = split.stats().subsets;
      assert.equal(stats['v2']!.started, 100);
      assert.ok(stats['v1']!.started >= onSplit.firstOnV1, JSON.stringify(stats['v1']));
    },
  );

  it('retries a call v1 failed UNAVAILABLE on v2 under a retryPolicy with retryOnOtherSubset', async (t) => {
    const log: Arrival[] = [];
    const v1 = await loggingServer(t, 'v1', log, (previous) => (previous === 0 ? 'unavailable' : 'answer'));
    const v2 = await loggingServer(t, 'v2', log, () => 'answer');
    const retryPolicy = { retryPolicy: quickRetryPolicy(2) };
    const { split, client } = await splitClient(t, { v1: v1.target, v2: v2.target }, true, retryPolicy);
    await calls(client, 'call-', 40);
    const failedOnV1 = [...attemptsById(log, 'call-').values()].filter((attempts) => attempts[0]!.server === 'v1');
    assert.ok(Math.abs(failedOnV1.length - 20) <= 1, `${failedOnV1.length} first attempts on v1`);
    // Each was retried by grpc-js (its second attempt carries grpc-previous-rpc-attempts: 1), on v2.
    assert.deepEqual(
      failedOnV1.map((attempts) => attempts.map((a) => `${a.server}#${a.previous}`).join(' ')),
      Array(failedOnV1.length).fill('v1#0 v2#1'),
    );
    assert.deepEqual(split.stats().subsets['v1']!.codes, { UNAVAILABLE: failedOnV1.length });
  });

  it("retries a call on the other endpoint of the call's subset without retryOnOtherSubset", async (t) => {
    const log: Arrival[] = [];
    const failFirst: Behaviour = (previous) => (previous === 0 ? 'unavailable' : 'answer');
    const v1a = await loggingServer(t, 'v1a', log, failFirst);
    const v1b = await loggingServer(t, 'v1b', log, failFirst);
    const v2 = await loggingServer(t, 'v2', log, failFirst);
    const retryPolicy = { retryPolicy: quickRetryPolicy(2) };
    const { split, client } = await splitClient(
      t,
      { v1: `ipv4:${v1a.address},${v1b.address}`, v2: v2.target },
      false,
      retryPolicy,
    );
    // Four at a time, so that v1's round_robin hands out endpoints to several calls in between:
    // the endpoint a retry gets next from it may be the one its call already tried.
    await calls(client, 'call-', 60, 4);
    const paths = [...attemptsById(log, 'call-').values()].map((attempts) =>
      attempts.map((a) => `${a.server}#${a.previous}`).join(' '),
    );
    const counts: Record<string, number> = {};
    for (const path of paths) counts[path] = (counts[path] ?? 0) + 1;
    t.diagnostic(JSON.stringify(counts));
    // Every call's retry stayed in its subset: v1's on the endpoint its first attempt did not use
    // (v2 has one endpoint, which its retries get again).
    const allowed = ['v1a#0 v1b#1', 'v1b#0 v1a#1', 'v2#0 v2#1'];
    assert.deepEqual(
      Object.keys(counts).filter((path) => !allowed.includes(path)),
      [],
      JSON.stringify(counts),
    );
    assert.equal(paths.length, 60);
    assert.ok(Math.abs(counts['v2#0 v2#1']! - 30) <= 1, JSON.stringify(counts));
    assert.equal(split.stats().subsets['v1']!.started, 2 * (60 - counts['v2#0 v2#1']!));
  });
});

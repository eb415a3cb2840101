import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../../src/index.js';
import { echoClient, type EchoClientInstance, type EchoReply } from '../helpers/echo-service.js';
import { closeAfter, connect, waitForSubsetsReady } from '../helpers/split-helpers.js';
import { feedClient, startFeedServer, subscribe, type FeedServer } from '../helpers/stream-service.js';

type Kind = 'server' | 'client' | 'bidi';

/** One short streaming call of `kind` (one message each way at most), ended by both sides before
 * it resolves with the server that served it; a bidi call is held `holdMs` after its reply. */
function shortStream(client: EchoClientInstance, kind: Kind, holdMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    let server: string | null = null;
    const done = (status: grpc.StatusObject): void => {
      if (status.code === grpc.status.OK && server !== null) resolve(server);
      else reject(new Error(`${kind} stream ended ${status.code} ${status.details}`));
    };
    if (kind === 'client') {
      const call = client.collect((error, reply) => (error ? reject(error) : resolve(reply!.server)));
      call.write({ text: 'a' });
      call.end();
      return;
    }
    const call = kind === 'server' ? client.stream({ count: 1 }) : client.chat();
    call.on('data', (reply: EchoReply) => {
      server ??= reply.server;
      if (kind === 'bidi') {
        if (holdMs > 0) void delay(holdMs).then(() => (call as grpc.ClientDuplexStream<unknown, EchoReply>).end());
        else (call as grpc.ClientDuplexStream<unknown, EchoReply>).end();
      }
    });
    call.on('error', () => {});
    call.on('status', done);
    if (kind === 'bidi') (call as grpc.ClientDuplexStream<unknown, EchoReply>).write({ text: 'a' });
  });
}

/** `total` short streams, `concurrency` at a time; the count per server. */
async function streams(
  client: EchoClientInstance,
  kind: Kind,
  total: number,
  concurrency = 1,
  holdMs = 0,
): Promise<{ v1: number; v2: number }> {
  const counts = { v1: 0, v2: 0 };
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++;
      counts[(await shortStream(client, kind, holdMs)) as 'v1' | 'v2']++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

async function servers(t: TestContext): Promise<{ v1: FeedServer; v2: FeedServer }> {
  const v1 = await startFeedServer('v1');
  const v2 = await startFeedServer('v2');
  closeAfter(t, v1, v2);
  return { v1, v2 };
}

/** A fresh split over the two servers and a client built from it, READY. */
async function splitClient(
  t: TestContext,
  v1: FeedServer,
  v2: FeedServer,
  weights: Record<string, number>,
): Promise<{ split: TrafficSplit; client: EchoClientInstance }> {
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights });
  const client = echoClient(split.target, split.channelOptions);
  closeAfter(t, client, split);
  connect(client);
  await waitForSubsetsReady(split);
  return { split, client };
}

/** A plain grpc-js round_robin channel to the same two servers. */
function plainClient(t: TestContext, v1: FeedServer, v2: FeedServer): EchoClientInstance {
  const serviceConfig = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });
  const client = echoClient(`ipv4:127.0.0.1:${v1.port},127.0.0.1:${v2.port}`, {
    'grpc.service_config': serviceConfig,
  });
  closeAfter(t, client);
  return client;
}

/** The stream starts the split counted per subset (attempts that started there). */
function started(split: TrafficSplit): { v1: number; v2: number } {
  const { subsets } = split.stats();
  return { v1: subsets['v1']!.started, v2: subsets['v2']!.started };
}

describe('stream starts follow the weights, on real servers', () => {
  for (const kind of ['server', 'client', 'bidi'] as const) {
    it(
      `sends v2 18-22 of 200 sequential ${kind}-streaming calls at 90/10, 98-102 at ` +
        `50/50 in each of 6 fresh splits, 178-182 at 10/90; round_robin gives 98-102`,
      async (t) => {
        const { v1, v2 } = await servers(t);
        const plain = await streams(plainClient(t, v1, v2), kind, 200);
        t.diagnostic(`round_robin: ${JSON.stringify(plain)}`);
        // Alternating once both endpoints are READY (the first calls may find one READY only).
        assert.ok(Math.abs(plain.v2 - 100) <= 2, JSON.stringify(plain));
        const cases: [Record<string, number>, number, number, number][] = [
          [{ v1: 90, v2: 10 }, 18, 22, 1],
          [{ v1: 50, v2: 50 }, 98, 102, 6],
          [{ v1: 10, v2: 90 }, 178, 182, 1],
        ];
        for (const [weights, low, high, splits] of cases) {
          for (let k = 0; k < splits; k++) {
            const { split, client } = await splitClient(t, v1, v2, weights);
            const counts = await streams(client, kind, 200);
            t.diagnostic(`${JSON.stringify(weights)} split ${k}: ${JSON.stringify(counts)}`);
            assert.ok(counts.v2 >= low && counts.v2 <= high, `${JSON.stringify(weights)}: v2 got ${counts.v2} of 200`);
            assert.equal(counts.v1 + counts.v2, 200);
            assert.deepEqual(started(split), counts, "the split's figures agree with the servers");
            client.close();
            split.close();
          }
        }
      },
    );
  }

  it('sends v2 36-44 of 400 bidi streams at concurrency 4 (each held a few ms) at 90/10; round_robin gives 198-202', async (t) => {
    const { v1, v2 } = await servers(t);
    const plain = await streams(plainClient(t, v1, v2), 'bidi', 400, 4, 3);
    t.diagnostic(`round_robin: ${JSON.stringify(plain)}`);
    assert.ok(Math.abs(plain.v2 - 200) <= 2, JSON.stringify(plain));
    const { split, client } = await splitClient(t, v1, v2, { v1: 90, v2: 10 });
    const counts = await streams(client, 'bidi', 400, 4, 3);
    t.diagnostic(`split 90/10: ${JSON.stringify(counts)}`);
    assert.ok(counts.v2 >= 36 && counts.v2 <= 44, `v2 got ${counts.v2} of 400`);
    assert.deepEqual(started(split), counts);
  });

  it('with one long-lived stream open on v1, sends v2 18-22 of 200 short sequential streams at 90/10', async (t) => {
    const { v1, v2 } = await servers(t);
    const { split, client } = await splitClient(t, v1, v2, { v1: 90, v2: 10 });
    // The long-lived one: a subscription held open on v1 (routed there, counted there).
    const feed = feedClient(split.target, split.channelOptions);
    closeAfter(t, feed);
    const long = subscribe(feed, 'long', split.route({ subset: 'v1' }));
    assert.equal(await long.placed, 'v1');
    const counts = await streams(client, 'server', 200);
    t.diagnostic(`short streams: ${JSON.stringify(counts)}`);
    assert.ok(counts.v2 >= 18 && counts.v2 <= 22, `v2 got ${counts.v2} of 200`);
    assert.equal(long.ended, null);
    assert.deepEqual(v1.openIds(), ['long']);
    assert.equal(split.stats().subsets['v1']!.openStreams, 1);
    long.call.cancel();
  });
});

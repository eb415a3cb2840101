/**
 * The stream figures of `stats()` on real servers (shop.Store's Watch, test.Echo's Stream,
 * Collect and Chat): time to first message, gaps, how streams ended, apart from the unary
 * latency; per method, adding up to the subset; since a mark. The servers pace their streams
 * with timers of their own: a test compares two subsets only where one server waits hundreds of
 * milliseconds and the other not at all, and bounds a figure only from below by a server's wait.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type MethodStats, type StreamStats, type SubsetStats } from '../src/index.js';
import { echoClient, type EchoClientInstance, type EchoReply } from './helpers/echo-service.js';
import { startServer } from './helpers/servers.js';
import {
  callShop,
  drainStream,
  SHOP,
  shopClient,
  watchShop,
  type ShopClientInstance,
  type ShopRequest,
} from './helpers/shop-service.js';
import { closeAfter, connect, waitForSubsetsReady } from './helpers/split-helpers.js';

interface Rig {
  split: TrafficSplit;
  shop: ShopClientInstance;
  echo: EchoClientInstance;
}

/** Servers v1 and v2, a split over them at 1:1, and a client of each service. */
async function rig(t: TestContext): Promise<Rig> {
  const v1 = await startServer('v1');
  const v2 = await startServer('v2');
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 1, v2: 1 } });
  const shop = shopClient(split.target, split.channelOptions);
  const echo = echoClient(split.target, split.channelOptions);
  closeAfter(t, shop, echo, split, v1, v2);
  connect(shop, echo);
  await waitForSubsetsReady(split);
  return { split, shop, echo };
}

/** `count` Watch streams pinned to `subset`, run side by side and read to their end. */
function watches(r: Rig, subset: string, count: number, request: ShopRequest) {
  return Promise.all(
    Array.from({ length: count }, () => watchShop(r.shop, request, new grpc.Metadata(), r.split.route({ subset }))),
  );
}

/** The streaming methods of the echo client, with metadata and call options. */
interface StreamingEcho {
  chat(metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientDuplexStream<object, EchoReply>;
  collect(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<EchoReply>,
  ): grpc.ClientWritableStream<object>;
}

const total = (histogram: [number, number][]) => histogram.reduce((n, [, count]) => n + count, 0);
const streamsOf = (subset: SubsetStats | MethodStats): StreamStats => subset.streams!;

describe('stream figures on real servers', () => {
  it(
    'rank a v2 whose first message comes 200 ms late above v1 on time to first message, while ' +
      "v1's long-lived streams, whose first message comes at once, are slower only in their lifetime",
    async (t) => {
      const r = await rig(t);
      const STREAMS = 8;
      // v1: 4 messages 150 ms apart (lives >= 450 ms), the first at once. v2: 3 messages at once, after 200 ms.
      const [onV1, onV2] = await Promise.all([
        watches(r, 'v1', STREAMS, { count: 4, intervalMs: 150 }),
        watches(r, 'v2', STREAMS, { count: 3, firstDelayMs: 200 }),
      ]);
      assert.deepEqual(
        [...onV1, ...onV2].map((end) => `${end.code}:${end.replies.length}`),
        [...Array<string>(STREAMS).fill('0:4'), ...Array<string>(STREAMS).fill('0:3')],
      );
      const { v1, v2 } = r.split.stats().subsets as Record<string, SubsetStats>;
      const [s1, s2] = [streamsOf(v1!), streamsOf(v2!)];
      // Exact counts: every stream ended after its messages, each first message and gap counted once.
      assert.deepEqual(
        [s1.finished, s1.codesAfterFirstMessage, total(s1.firstMessageHistogram), total(s1.gapHistogram)],
        [STREAMS, { OK: STREAMS }, STREAMS, STREAMS * 3],
      );
      assert.deepEqual(
        [s2.finished, s2.codesAfterFirstMessage, total(s2.firstMessageHistogram), total(s2.gapHistogram)],
        [STREAMS, { OK: STREAMS }, STREAMS, STREAMS * 2],
      );
      // The v2 server waited 200 ms before each first message (the histogram is within about 9%).
      assert.ok(s2.firstMessageMs.p50! >= 180, JSON.stringify(s2.firstMessageMs));
      assert.ok(s2.firstMessageMs.p50! > s1.firstMessageMs.p50!, JSON.stringify({ s1, s2 }));
      // By lifetime, v1 looks slower: that is why a stream's latency is not judged.
      assert.ok(v1!.latencyMs.p50! >= 400 && v1!.latencyMs.p50! > v2!.latencyMs.p50!, JSON.stringify([v1, v2]));
      assert.ok(s1.gapMs.p50! >= 135 && s1.gapMs.p50! > s2.gapMs.p50!, JSON.stringify({ s1, s2 }));
      // No unary call: the unary latency is empty, the latency holds the streams' lifetimes.
      assert.deepEqual([v1!.unaryLatencyHistogram, v2!.unaryLatencyHistogram], [[], []]);
      assert.deepEqual([total(v1!.latencyHistogram), total(v2!.latencyHistogram)], [STREAMS, STREAMS]);
    },
  );

  it("keep unary calls' latency apart: unary latency counts finished - streams.finished attempts", async (t) => {
    const r = await rig(t);
    for (let i = 0; i < 6; i++)
      await callShop(r.shop, 'read', {}, new grpc.Metadata(), r.split.route({ subset: 'v1' }));
    await watches(r, 'v1', 4, { count: 2 });
    const v1 = r.split.stats().subsets['v1']!;
    assert.deepEqual(
      [v1.finished, v1.streams!.finished, total(v1.unaryLatencyHistogram!), total(v1.latencyHistogram)],
      [10, 4, 6, 10],
    );
  });

  it('count mid-stream failures exactly, apart from streams that failed before any message', async (t) => {
    const r = await rig(t);
    const INTERNAL = grpc.status.INTERNAL;
    const [after, before, fine] = await Promise.all([
      watches(r, 'v2', 5, { count: 2, failWith: INTERNAL }),
      watches(r, 'v2', 3, { count: 0, failWith: INTERNAL }),
      watches(r, 'v2', 2, { count: 1 }),
    ]);
    assert.deepEqual(
      [...after, ...before, ...fine].map((end) => `${grpc.status[end.code]}:${end.replies.length}`),
      [...Array<string>(5).fill('INTERNAL:2'), ...Array<string>(3).fill('INTERNAL:0'), 'OK:1', 'OK:1'],
    );
    const v2 = r.split.stats().subsets['v2']!;
    const s = v2.streams!;
    assert.deepEqual(v2.codes, { INTERNAL: 8, OK: 2 });
    assert.deepEqual(
      [s.finished, s.codesAfterFirstMessage, total(s.firstMessageHistogram), total(s.gapHistogram)],
      [10, { INTERNAL: 5, OK: 2 }, 7, 5],
    );
  });

  it('count a first message when it arrives, while the stream is still open, and its cancel as its end', async (t) => {
    const r = await rig(t);
    const mark = r.split.mark();
    const call = (
      r.shop as unknown as {
        watch(q: object, m: grpc.Metadata, o: grpc.CallOptions): grpc.ClientReadableStream<object>;
      }
    ).watch({ count: 2, intervalMs: 60_000 }, new grpc.Metadata(), r.split.route({ subset: 'v1' }));
    const ended = drainStream(call);
    // The split's interceptor counts the message before the application sees it.
    await once(call, 'data');
    const open = r.split.stats({ since: mark }).subsets['v1']!.streams!;
    assert.deepEqual([open.finished, total(open.firstMessageHistogram), open.gapHistogram], [0, 1, []]);
    call.cancel();
    assert.equal((await ended).code, grpc.status.CANCELLED);
    const closed = r.split.stats({ since: mark }).subsets['v1']!.streams!;
    assert.deepEqual([closed.finished, closed.codesAfterFirstMessage], [1, { CANCELLED: 1 }]);
  });

  it(
    "add up per method to the subset's figures, for server, client and bidi streams and unary " +
      'calls, cumulative and since a mark',
    async (t) => {
      const r = await rig(t);
      const chat = async (subset: string, messages: number): Promise<EchoReply[]> => {
        const call = (r.echo as unknown as StreamingEcho).chat(new grpc.Metadata(), r.split.route({ subset }));
        const replies: EchoReply[] = [];
        call.on('data', (reply: EchoReply) => replies.push(reply));
        for (let i = 0; i < messages; i++) call.write({ text: `m${i}` });
        call.end();
        await once(call, 'status');
        return replies;
      };
      const collect = (subset: string) =>
        new Promise<void>((resolve, reject) => {
          const call = (r.echo as unknown as StreamingEcho).collect(
            new grpc.Metadata(),
            r.split.route({ subset }),
            (error) => (error ? reject(error) : resolve()),
          );
          call.write({ text: 'a' });
          call.end();
        });
      const round = async (i: number) => {
        const subset = i % 2 === 0 ? 'v1' : 'v2';
        await Promise.all([
          watches(r, subset, 2, { count: 3 }),
          watches(r, subset, 1, { count: 1, failWith: grpc.status.UNAVAILABLE }),
          drainStream(r.echo.stream({ count: 2 }, r.split.route({ subset }))),
          chat(subset, 3),
          collect(subset),
          callShop(r.shop, 'read', {}, new grpc.Metadata(), r.split.route({ subset })),
        ]);
      };
      for (let i = 0; i < 4; i++) await round(i);
      const mark = r.split.mark();
      for (let i = 4; i < 10; i++) await round(i);

      for (const [when, stats] of [
        ['cumulative', r.split.stats()],
        ['since the mark', r.split.stats({ since: mark })],
      ] as const) {
        const rounds = when === 'cumulative' ? 5 : 3;
        for (const [name, subset] of Object.entries(stats.subsets)) {
          assert.deepEqual(streamSums(Object.values(subset.methods!)), streamSums([subset]), `${when}: ${name}`);
          const watch = subset.methods![SHOP.watch]!.streams!;
          // Per round: 3 Watch streams (2 of 3 messages, 1 failing after 1): 3 first messages, 4 gaps.
          assert.deepEqual(
            [
              watch.finished,
              watch.codesAfterFirstMessage,
              total(watch.firstMessageHistogram),
              total(watch.gapHistogram),
            ],
            [3 * rounds, { OK: 2 * rounds, UNAVAILABLE: rounds }, 3 * rounds, 4 * rounds],
            `${when}: ${name} Watch`,
          );
          // Per round: Watch 3 + Stream 1 + Chat 1 + Collect 1 streams; Read 1 unary call.
          assert.deepEqual(
            [subset.streams!.finished, subset.finished, total(subset.unaryLatencyHistogram!)],
            [6 * rounds, 7 * rounds, rounds],
            `${when}: ${name}`,
          );
        }
      }
    },
  );
});

/** A subset's (or its methods' summed) stream and unary figures, histograms as counts by bucket. */
function streamSums(rows: (SubsetStats | MethodStats)[]) {
  const sum = { finished: 0, after: {}, first: {}, gaps: {}, unary: {} } as {
    finished: number;
    after: Record<string, number>;
    first: Record<string, number>;
    gaps: Record<string, number>;
    unary: Record<string, number>;
  };
  const add = (into: Record<string, number>, key: string | number, n = 0) => (into[key] = (into[key] ?? 0) + n);
  for (const row of rows) {
    const s = row.streams!;
    sum.finished += s.finished;
    for (const [code, n] of Object.entries(s.codesAfterFirstMessage)) add(sum.after, code, n);
    for (const [ms, n] of s.firstMessageHistogram) add(sum.first, ms, n);
    for (const [ms, n] of s.gapHistogram) add(sum.gaps, ms, n);
    for (const [ms, n] of row.unaryLatencyHistogram!) add(sum.unary, ms, n);
  }
  return sum;
}

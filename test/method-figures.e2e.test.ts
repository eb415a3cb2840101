/**
 * Per-method figures on real servers: shop.Store's Read, Write, List and Watch (and test.Echo's
 * Chat, held open) add up to each subset's figures exactly, cumulative and since a mark; a
 * generic client calling 10,000 distinct methods keeps at most the bound in `stats()`, in
 * `GET /metrics` and in OpenTelemetry; hostile method names are escaped or counted as `other`.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import * as api from '@opentelemetry/api';
import { TrafficSplit, type MethodStats, type SplitStats, type SubsetStats } from '../src/index.js';
import { instrumentTrafficSplit, renderPrometheusMetrics, startAdminServer } from '../src/ops/index.js';
import { echoClient, type EchoReply } from './helpers/echo-service.js';
import { parsePrometheusText } from './helpers/prometheus-parser.js';
import { startServer, type TestServer } from './helpers/servers.js';
import { callShop, SHOP, shopClient, type ShopClientInstance, type ShopReply } from './helpers/shop-service.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

/** Two servers and a split over them, closed after the test. */
async function shopSplit(
  t: TestContext,
  extra: Partial<ConstructorParameters<typeof TrafficSplit>[0]> = {},
): Promise<{ split: TrafficSplit; v1: TestServer; v2: TestServer }> {
  const v1 = await startServer('v1');
  const v2 = await startServer('v2');
  closeAfter(t, v1, v2);
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 1, v2: 1 }, ...extra });
  closeAfter(t, split);
  return { split, v1, v2 };
}

const FIGURES = ['started', 'finished', 'inFlight', 'openStreams', 'rebalanced', 'abandoned', 'refused'] as const;

/** What a subset's methods add up to, in the subset's terms (histograms as counts by bucket). */
function sumOf(methods: MethodStats[]) {
  const sum: Record<string, number> = Object.fromEntries(FIGURES.map((f) => [f, 0]));
  const codes: Record<string, number> = {};
  const notStarted: Record<string, number> = {};
  const histogram: Record<string, number> = {};
  const add = (into: Record<string, number>, key: string | number, n = 0) => (into[key] = (into[key] ?? 0) + n);
  for (const m of methods) {
    for (const f of FIGURES) sum[f]! += m[f];
    for (const [code, n] of Object.entries(m.codes)) add(codes, code, n);
    for (const [code, n] of Object.entries(m.notStarted)) add(notStarted, code, n);
    for (const [ms, n] of m.latencyHistogram) add(histogram, ms, n);
  }
  return { ...sum, codes, notStarted, histogram };
}

function assertAddsUp(stats: SplitStats, when: string): void {
  for (const [name, subset] of Object.entries(stats.subsets)) {
    const methods = Object.values(subset.methods!);
    assert.deepEqual(sumOf(methods), sumOf([subset]), `${when}: the methods of ${name} add up to ${name}`);
  }
}

/** Each method's figure summed over the subsets. */
function perMethod(stats: SplitStats, figure: (m: MethodStats) => number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const subset of Object.values(stats.subsets))
    for (const [method, m] of Object.entries(subset.methods!)) out[method] = (out[method] ?? 0) + figure(m);
  return out;
}

function watch(client: ShopClientInstance, count: number): Promise<ShopReply[]> {
  const call = (client as unknown as { watch(r: object): grpc.ClientReadableStream<ShopReply> }).watch({ count });
  const replies: ShopReply[] = [];
  call.on('data', (reply: ShopReply) => replies.push(reply));
  return new Promise((resolve, reject) => {
    call.on('error', reject);
    call.on('end', () => resolve(replies));
  });
}

describe('per-method figures on real servers', () => {
  it("add up to each subset's figures exactly: Read, Write, List, a Watch stream, open Chat streams, since a mark", async (t) => {
    const { split } = await shopSplit(t);
    const shop = shopClient(split.target, split.channelOptions);
    const echo = echoClient(split.target, split.channelOptions);
    t.after(() => (shop.close(), echo.close()));
    connect(shop, echo);
    await waitForSubsetsReady(split);

    const round = async (i: number) => {
      // Every third Write fails on v2 only: the method's codes differ between the subsets.
      const write = i % 3 === 0 ? { failWith: grpc.status.INTERNAL, failOn: 'v2' } : {};
      await Promise.all([
        callShop(shop, 'read', { item: `r${i}` }),
        callShop(shop, 'write', { item: `w${i}`, ...write }).catch((error: grpc.ServiceError) => error.code),
        callShop(shop, 'list'),
        watch(shop, 2),
      ]);
    };
    for (let i = 0; i < 30; i++) await round(i);
    const mark = split.mark();
    for (let i = 30; i < 50; i++) await round(i);

    // Three Chat streams held open: each answered once, so each has started on its subset.
    const chats = [0, 1, 2].map(() => echo.chat());
    await Promise.all(
      chats.map(
        (chat, i) =>
          new Promise<EchoReply>((resolve) => {
            chat.once('data', resolve);
            chat.write({ text: `hello ${i}` });
          }),
      ),
    );
    const open = split.stats();
    assertAddsUp(open, 'with three streams open');
    assert.equal(perMethod(open, (m) => m.openStreams)['/test.Echo/Chat'], 3);
    assert.equal(perMethod(open, (m) => m.inFlight)['/test.Echo/Chat'], 3);

    for (const chat of chats) chat.end();
    await Promise.all(chats.map((chat) => new Promise((resolve) => chat.on('status', resolve))));
    const settled = () => Object.values(split.stats().subsets).every((s) => s.inFlight === 0 && s.openStreams === 0);
    await eventually(settled, () => JSON.stringify(split.stats().subsets));

    const stats = split.stats();
    assertAddsUp(stats, 'lifetime');
    assertAddsUp(split.stats({ since: mark }), 'since the mark');
    // Named in the order first seen: each round starts Read, Write, List, Watch in that order.
    for (const subset of Object.values(stats.subsets))
      assert.deepEqual(Object.keys(subset.methods!), [
        SHOP.read,
        SHOP.write,
        SHOP.list,
        SHOP.watch,
        '/test.Echo/Chat',
      ]);
    assert.deepEqual(
      perMethod(stats, (m) => m.started),
      {
        [SHOP.read]: 50,
        [SHOP.write]: 50,
        [SHOP.list]: 50,
        [SHOP.watch]: 50,
        '/test.Echo/Chat': 3,
      },
    );
    assert.deepEqual(
      perMethod(split.stats({ since: mark }), (m) => m.finished),
      {
        [SHOP.read]: 20,
        [SHOP.write]: 20,
        [SHOP.list]: 20,
        [SHOP.watch]: 20,
        '/test.Echo/Chat': 3,
      },
    );
    // The failed Writes are v2's, and Write's only.
    const writesFailed = (subset: SubsetStats) => subset.methods![SHOP.write]!.codes.INTERNAL ?? 0;
    assert.equal(writesFailed(stats.subsets['v1']!), 0);
    assert.equal(writesFailed(stats.subsets['v2']!), stats.subsets['v2']!.codes.INTERNAL);
    assert.ok(writesFailed(stats.subsets['v2']!) > 0, JSON.stringify(stats.subsets['v2']!.codes));
  });

  it('keep at most the bound plus other and unknown for a generic client calling 10,000 methods, in stats(), /metrics and OpenTelemetry', async (t) => {
    const { split } = await shopSplit(t);
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    t.after(() => provider.shutdown());
    const telemetry = await instrumentTrafficSplit(split, { api, tracing: false, meterProvider: provider });
    t.after(() => telemetry.stop());

    const METHODS = 10_000;
    const bytes = { serialize: (v: unknown) => Buffer.from(JSON.stringify(v)), deserialize: (b: Buffer) => b };
    const service: Record<string, grpc.MethodDefinition<unknown, Buffer>> = {};
    for (let i = 0; i < METHODS; i++) {
      service[`m${i}`] = {
        path: `/gen.Svc/M${i}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: bytes.serialize,
        requestDeserialize: bytes.deserialize,
        responseSerialize: bytes.serialize,
        responseDeserialize: bytes.deserialize,
      };
    }
    const Generic = grpc.makeGenericClientConstructor(service, 'gen.Svc');
    const generic = new Generic(split.target, grpc.credentials.createInsecure(), split.channelOptions);
    // A client built without the split's options: its calls' method is unknown to the split.
    const bare = shopClient(split.target);
    t.after(() => (generic.close(), bare.close()));
    connect(generic);
    await waitForSubsetsReady(split);

    const call = (i: number) =>
      new Promise<number>((resolve) =>
        (generic as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null) => void) => void>)[
          `m${i}`
        ]!({}, (error: grpc.ServiceError | null) => resolve(error?.code ?? grpc.status.OK)),
      );
    const codes = new Map<number, number>();
    for (let i = 0; i < METHODS; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, METHODS - i) }, (_, k) => call(i + k)));
      for (const code of batch) codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    assert.deepEqual([...codes], [[grpc.status.UNIMPLEMENTED, METHODS]]);
    await callShop(bare, 'read');

    const stats = split.stats();
    const named = Array.from({ length: 100 }, (_, i) => `/gen.Svc/M${i}`);
    for (const subset of Object.values(stats.subsets))
      assert.deepEqual(Object.keys(subset.methods!), [...named, 'other', 'unknown']);
    assert.deepEqual(
      [perMethod(stats, (m) => m.started)['other'], perMethod(stats, (m) => m.started)['unknown']],
      [METHODS - 100, 1],
    );
    assertAddsUp(stats, 'after 10,000 methods');

    const admin = await startAdminServer(split, { port: 0 });
    t.after(() => admin.close());
    assert.match(admin.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${admin.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const families = parsePrometheusText(await response.text());
    const labels = new Set<string>();
    let series = 0;
    for (const [name, family] of families) {
      if (!name.startsWith('traffic_split_method_')) continue;
      for (const sample of family.samples) {
        labels.add(sample.labels['method']!);
        series++;
      }
    }
    assert.deepEqual([...labels].sort(), [...named.map((n) => n.slice(1)), 'other', 'unknown'].sort());
    // Per subset and method: started, in flight, open streams, rebalanced, abandoned, refused,
    // streams finished, one series per code finished, and p50/p90/p99 of the latency once one
    // finished and of the unary latency once a unary call did (no call was not started, none
    // was a stream).
    const quantiles = (histogram: unknown[] | undefined) => (histogram!.length > 0 ? 3 : 0);
    const expected = Object.values(stats.subsets)
      .flatMap((subset) => Object.values(subset.methods!))
      .reduce(
        (n, m) =>
          n + 7 + Object.keys(m.codes).length + quantiles(m.latencyHistogram) + quantiles(m.unaryLatencyHistogram),
        0,
      );
    assert.equal(series, expected, 'method series in /metrics');
    assert.ok(series <= 2 * 102 * (7 + 17 + 3 + 3 + 17), `${series} series`);

    // OpenTelemetry: the attempt duration histogram, recorded as attempts finish, counts each
    // finished attempt under the same bounded method names as stats().
    await reader.forceFlush();
    const durations: Record<string, number> = {};
    for (const resource of exporter.getMetrics())
      for (const scope of resource.scopeMetrics)
        for (const metric of scope.metrics) {
          if (metric.descriptor.name !== 'grpc.lb.traffic_split.attempt.duration') continue;
          for (const point of metric.dataPoints as DataPoint<Histogram>[]) {
            const method = String(point.attributes['grpc.method']);
            durations[method] = (durations[method] ?? 0) + point.value.count;
          }
        }
    const finished = Object.entries(perMethod(split.stats(), (m) => m.finished));
    assert.deepEqual(durations, Object.fromEntries(finished.map(([name, n]) => [name.replace(/^\//, ''), n])));
  });

  it('escape hostile method names in /metrics and count unnameable ones as other', async (t) => {
    const { split } = await shopSplit(t, { methodFigures: { limit: 10 } });
    const client = new grpc.Client(split.target, grpc.credentials.createInsecure(), split.channelOptions);
    t.after(() => client.close());
    connect(client);
    await waitForSubsetsReady(split);
    const hostile = [
      '/evil.Svc/Quo"te',
      '/evil.Svc/Back\\slash',
      '/evil.Svc/Line\nfeed',
      `/evil.Svc/${'L'.repeat(10_000)}`,
    ];
    const bytes = (value: Buffer) => value;
    for (const path of hostile)
      await new Promise((resolve) => client.makeUnaryRequest(path, bytes, bytes, Buffer.from('{}'), resolve));
    const methods = split.stats().subsets['v1']!.methods!;
    assert.deepEqual(Object.keys(methods), [hostile[0], hostile[1], 'other']);
    assertAddsUp(split.stats(), 'after hostile names');
    // The line feed's call fails at the server (RST_STREAM), the long one UNIMPLEMENTED: both started.
    assert.equal(perMethod(split.stats(), (m) => m.started)['other'], 2);

    const text = renderPrometheusMetrics(split);
    assert.ok(text.includes('method="evil.Svc/Quo\\"te"'), 'a quote is escaped');
    assert.ok(text.includes('method="evil.Svc/Back\\\\slash"'), 'a backslash is escaped');
    assert.ok(!text.includes('LLLLLLLLLL') && !text.includes('Line'), 'unnameable names are not written');
    const parsed = parsePrometheusText(text);
    const values = new Set(
      parsed.get('traffic_split_method_calls_started_total')!.samples.map((s) => s.labels['method']),
    );
    assert.deepEqual([...values].sort(), ['evil.Svc/Back\\slash', 'evil.Svc/Quo"te', 'other']);
  });

  it('are off with methodFigures: false: no method figures, no method series', async (t) => {
    const { split } = await shopSplit(t, { methodFigures: false });
    const shop = shopClient(split.target, split.channelOptions);
    t.after(() => shop.close());
    connect(shop);
    await waitForSubsetsReady(split);
    await Promise.all([callShop(shop, 'read'), callShop(shop, 'write'), watch(shop, 1)]);
    const stats = split.stats();
    assert.deepEqual(
      Object.values(stats.subsets).map((s) => s.methods),
      [{}, {}],
    );
    assert.equal(stats.subsets['v1']!.started + stats.subsets['v2']!.started, 3);
    assert.doesNotMatch(renderPrometheusMetrics(split), /^traffic_split_method_\w+\{/m);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { TrafficSplit } from '../src/index.js';
import { instrumentTrafficSplit } from '../src/ops/index.js';
import { telemetrySlotsOf } from '../src/policy/call/telemetry-port.js';
import { TrafficSplitPicker } from '../src/policy/balancer/picker.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';
import { prepareScratchApp, runModule } from './helpers/scratch-app.js';
import { eventually } from './helpers/split-helpers.js';

const SUBSET = 'grpc.lb.traffic_split.subset';

/** An in-memory metric pipeline: `collect()` exports once and returns the metrics by name. */
function metricPipeline() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval is a hang guard only: every collection below is an explicit forceFlush().
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collect(): Promise<Map<string, MetricData>> {
      exporter.reset();
      await reader.forceFlush();
      const byName = new Map<string, MetricData>();
      for (const resource of exporter.getMetrics()) {
        for (const scope of resource.scopeMetrics)
          for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
      }
      return byName;
    },
    shutdown: () => provider.shutdown(),
  };
}

/** `{ "<subset>[ <status>]": value }` of a metric's points, for exact comparison. */
function pointsBy(metric: MetricData | undefined, ...keys: string[]): Record<string, unknown> {
  assert.ok(metric !== undefined, 'metric exported');
  const out: Record<string, unknown> = {};
  for (const point of metric.dataPoints as DataPoint<unknown>[]) {
    const label = keys.map((key) => String(point.attributes[key])).join(' ');
    const value = point.value as number | Histogram;
    out[label] = typeof value === 'number' ? value : value.count;
  }
  return out;
}

describe('OpenTelemetry', () => {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const tracer = tracerProvider.getTracer('test');

  before(() => {
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });
  after(async () => {
    api.context.disable();
    await tracerProvider.shutdown();
  });

  it('reports calls per subset and status, weights and states, and tags each call span with its subset', async (t) => {
    const metrics = metricPipeline();
    t.after(() => metrics.shutdown());
    spans.reset();
    const { client, split } = await rig(t, { v1: 3, v2: 1 });
    const telemetry = await instrumentTrafficSplit(split, { api, meterProvider: metrics.provider });
    t.after(() => telemetry.stop());

    const served: Record<string, string> = {};
    const tally: Record<string, number> = {};
    const count = (key: string) => (tally[key] = (tally[key] ?? 0) + 1);
    for (let i = 0; i < 12; i++) {
      const failWith = i % 4 === 3 ? grpc.status.INTERNAL : undefined;
      await tracer.startActiveSpan(`call-${i}`, async (span) => {
        try {
          const reply = await callEcho(client, failWith === undefined ? {} : { failWith });
          served[`call-${i}`] = reply.server;
          count(`${reply.server} OK`);
        } catch (error) {
          const server = (error as grpc.ServiceError).details.split(' ')[0]!;
          served[`call-${i}`] = server;
          count(`${server} INTERNAL`);
        } finally {
          span.end();
        }
      });
    }
    // A call outside any span is counted too, and its subset is nowhere to be tagged.
    count(`${(await callEcho(client)).server} OK`);

    const tagged = Object.fromEntries(spans.getFinishedSpans().map((span) => [span.name, span.attributes[SUBSET]]));
    assert.deepEqual(tagged, served);

    const collected = await metrics.collect();
    const started: Record<string, number> = {};
    for (const [key, n] of Object.entries(tally)) started[key.split(' ')[0]!] = (started[key.split(' ')[0]!] ?? 0) + n;
    assert.deepEqual(pointsBy(collected.get('grpc.lb.traffic_split.attempt.started'), SUBSET), started);
    assert.deepEqual(pointsBy(collected.get('grpc.lb.traffic_split.attempt.duration'), SUBSET, 'grpc.status'), tally);
    assert.deepEqual(pointsBy(collected.get('grpc.lb.traffic_split.subset.weight'), SUBSET), { v1: 3, v2: 1 });
    const states = pointsBy(
      collected.get('grpc.lb.traffic_split.subset.state'),
      SUBSET,
      'grpc.lb.traffic_split.state',
    );
    assert.deepEqual(states, {
      'v1 IDLE': 0,
      'v1 CONNECTING': 0,
      'v1 READY': 1,
      'v1 TRANSIENT_FAILURE': 0,
      'v1 SHUTDOWN': 0,
      'v2 IDLE': 0,
      'v2 CONNECTING': 0,
      'v2 READY': 1,
      'v2 TRANSIENT_FAILURE': 0,
      'v2 SHUTDOWN': 0,
    });
    const duration = collected.get('grpc.lb.traffic_split.attempt.duration')!;
    assert.equal(duration.descriptor.unit, 's');
    for (const point of duration.dataPoints) assert.equal(point.attributes['grpc.target'], split.target);

    split.setWeights({ v1: 0, v2: 5 });
    assert.deepEqual(pointsBy((await metrics.collect()).get('grpc.lb.traffic_split.subset.weight'), SUBSET), {
      v1: 0,
      v2: 5,
    });
  });

  it('tags spans without sending any pick down the routed path: only calls routed by route() take it', async (t) => {
    spans.reset();
    const { client, split } = await rig(t, { v1: 1, v2: 1 });
    const telemetry = await instrumentTrafficSplit(split, { api, metrics: false });
    t.after(() => telemetry.stop());
    // Counts the picks, and those that take the routed path, of every split picker.
    const prototype = TrafficSplitPicker.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    const originals = { pick: prototype['pick']!, pickRouted: prototype['pickRouted']! };
    const counted = { pick: 0, pickRouted: 0 };
    for (const name of ['pick', 'pickRouted'] as const) {
      prototype[name] = function (this: unknown, ...args: unknown[]) {
        counted[name]++;
        return originals[name].apply(this, args);
      };
    }
    t.after(() => Object.assign(prototype, originals));
    const served: string[] = [];
    for (let i = 0; i < 10; i++) {
      await tracer.startActiveSpan(`plain-${i}`, async (span) => {
        served.push((await callEcho(client)).server);
        span.end();
      });
    }
    assert.deepEqual([counted.pick, counted.pickRouted], [10, 0]);
    assert.deepEqual(
      spans.getFinishedSpans().map((span) => span.attributes[SUBSET]),
      served,
    );
    // The control: a routed call does take it, so the count above can see one.
    await callEcho(client, {}, new grpc.Metadata(), split.route({ subset: 'v2' }));
    assert.deepEqual([counted.pick, counted.pickRouted], [11, 1]);
  });

  it('tags the span of a call that waited for the channel to connect', async (t) => {
    spans.reset();
    const { split } = await rig(t, { v1: 1, v2: 1 });
    const telemetry = await instrumentTrafficSplit(split, { api, metrics: false });
    t.after(() => telemetry.stop());
    // A fresh channel: its first call is queued and picked later, from a connection event.
    const fresh = echoClient(split.target, split.channelOptions);
    t.after(() => fresh.close());
    const servers = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        tracer.startActiveSpan(`queued-${i}`, async (span) => {
          try {
            return (
              await callEcho(fresh, {}, new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + 10_000 })
            ).server;
          } finally {
            span.end();
          }
        }),
      ),
    );
    const tagged = Object.fromEntries(spans.getFinishedSpans().map((span) => [span.name, span.attributes[SUBSET]]));
    assert.deepEqual(tagged, {
      'queued-0': servers[0],
      'queued-1': servers[1],
      'queued-2': servers[2],
      'queued-3': servers[3],
    });
  });

  it('tags a call retried on another subset with the subset that answered', async (t) => {
    spans.reset();
    const { client, split, v2 } = await rig(t, { v1: 1, v2: 1 }, { retryOnOtherSubset: true });
    const telemetry = await instrumentTrafficSplit(split, { api, metrics: false });
    t.after(() => telemetry.stop());
    const calls = [0, 1, 2, 3].map((i) =>
      tracer.startActiveSpan(`retried-${i}`, async (span) => {
        try {
          return (
            await callEcho(client, { slowServer: 'v2', delayMs: 20_000 }, new grpc.Metadata(), {
              deadline: Date.now() + 10_000,
            })
          ).server;
        } finally {
          span.end();
        }
      }),
    );
    await eventually(
      () => split.stats().subsets['v2']!.inFlight === 2,
      () => JSON.stringify(split.stats().subsets['v2']),
    );
    await v2.kill();
    assert.deepEqual(await Promise.all(calls), ['v1', 'v1', 'v1', 'v1']);
    const tagged = Object.fromEntries(spans.getFinishedSpans().map((span) => [span.name, span.attributes[SUBSET]]));
    assert.deepEqual(tagged, { 'retried-0': 'v1', 'retried-1': 'v1', 'retried-2': 'v1', 'retried-3': 'v1' });
    // Attempt records live on each call's hint (see src/policy/call/hints.ts): nothing outlives the call.
  });

  it('stops reporting on stop() and on close()', async (t) => {
    const metrics = metricPipeline();
    t.after(() => metrics.shutdown());
    const { client, split } = await rig(t, { v1: 1, v2: 1 });
    const telemetry = await instrumentTrafficSplit(split, { api, meterProvider: metrics.provider });
    await callEcho(client);
    const before = await metrics.collect();
    assert.deepEqual(pointsBy(before.get('grpc.lb.traffic_split.subset.weight'), SUBSET), { v1: 1, v2: 1 });
    const finishedBefore = pointsBy(before.get('grpc.lb.traffic_split.attempt.duration'), SUBSET);
    telemetry.stop();
    split.setWeights({ v1: 4, v2: 1 });
    await callEcho(client);
    // The SDK keeps exporting the last cumulative values; they no longer move.
    const afterStop = await metrics.collect();
    assert.deepEqual(pointsBy(afterStop.get('grpc.lb.traffic_split.subset.weight'), SUBSET), { v1: 1, v2: 1 });
    assert.deepEqual(pointsBy(afterStop.get('grpc.lb.traffic_split.attempt.duration'), SUBSET), finishedBefore);
    const empty = { observing: false, finishListeners: 0, streamListeners: 0, countersObserved: false };
    assert.deepEqual(telemetrySlotsOf(split), empty);

    await instrumentTrafficSplit(split, { api, meterProvider: metrics.provider });
    assert.deepEqual(telemetrySlotsOf(split), {
      observing: true,
      finishListeners: 1,
      streamListeners: 1,
      countersObserved: true,
    });
    split.close();
    assert.deepEqual(telemetrySlotsOf(split), empty);
    await assert.rejects(instrumentTrafficSplit(split, { api }), { code: 'ERR_SPLIT_CLOSED' });
  });

  it('loads and routes without @opentelemetry/api installed; instrumenting then fails clearly', async (t) => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), 'gts-no-otel-')));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const app = prepareScratchApp(root, { omit: ['@opentelemetry'] });
    const result = await runModule(
      app,
      `
      const hidden = await import('@opentelemetry/api').then(() => false, (e) => e.code);
      const { TrafficSplit } = await import('./dist/src/index.js');
      const { instrumentTrafficSplit } = await import('./dist/src/ops/index.js');
      const { startServer } = await import('./dist/test/helpers/servers.js');
      const { callEcho, echoClient } = await import('./dist/test/helpers/echo-service.js');
      const v1 = await startServer('v1');
      const split = new TrafficSplit({ subsets: { v1: v1.target }, weights: { v1: 1 } });
      const client = echoClient(split.target, split.channelOptions);
      const reply = await callEcho(client);
      const instrumented = await instrumentTrafficSplit(split).then(() => null, (e) => ({ code: e.code, name: e.name }));
      client.close(); split.close(); await v1.kill();
      console.log(JSON.stringify({ hidden, server: reply.server, instrumented }));
      `,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      hidden: 'ERR_MODULE_NOT_FOUND',
      server: 'v1',
      instrumented: { code: 'ERR_SPLIT_OTEL_API_MISSING', name: 'TrafficSplitTelemetryError' },
    });
  });

  it('rejects what is not a split', async () => {
    await assert.rejects(instrumentTrafficSplit({} as TrafficSplit, { api }), {
      code: 'ERR_SPLIT_INVALID_CONFIG',
      message: 'split: expected a TrafficSplit, got `{}` (object)',
    });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { instrumentTrafficSplit } from '../src/ops/index.js';
import { callEcho, type EchoRequest } from './helpers/echo-service.js';
import { mirrorRig, type Answer } from './helpers/mirror-rig.js';
import { eventually } from './helpers/split-helpers.js';

const SUBSET = 'grpc.lb.traffic_split.subset';

describe('mirror in OpenTelemetry', () => {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const tracer = tracerProvider.getTracer('test');
  before(() => api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
  after(async () => {
    api.context.disable();
    await tracerProvider.shutdown();
  });

  it('counts copies by outcome, keeps them out of the attempt figures, and tags spans with the primary subset only', async (t) => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    t.after(() => provider.shutdown());
    const differs = (request: EchoRequest): Answer => ({
      reply: { text: request.text === 'req-0' ? 'other' : request.text },
    });
    const { split, client } = await mirrorRig(t, differs);
    const telemetry = await instrumentTrafficSplit(split, { api, meterProvider: provider });
    t.after(() => telemetry.stop());
    split.setMirror({ subset: 'v2', percent: 100, compare: true });
    for (let i = 0; i < 4; i++)
      await tracer.startActiveSpan(`call-${i}`, async (span) => {
        try {
          await callEcho(client, { text: `req-${i}` });
        } finally {
          span.end();
        }
      });
    await eventually(
      () => split.stats().mirror!.completed === 4,
      () => JSON.stringify(split.stats().mirror),
    );
    exporter.reset();
    await reader.forceFlush();
    const byName = new Map<string, MetricData>();
    for (const resource of exporter.getMetrics())
      for (const scope of resource.scopeMetrics)
        for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    const copies = Object.fromEntries(
      byName
        .get('grpc.lb.traffic_split.mirror.copies')!
        .dataPoints.map((p) => [
          `${p.attributes[SUBSET]} ${p.attributes['grpc.lb.traffic_split.mirror.outcome']}`,
          p.value,
        ]),
    );
    assert.deepEqual(copies, {
      'v2 sent': 4,
      'v2 completed': 4,
      'v2 dropped': 0,
      'v2 failed': 0,
      'v2 matched': 3,
      'v2 mismatched': 1,
    });
    assert.deepEqual(
      byName.get('grpc.lb.traffic_split.mirror.percent')!.dataPoints.map((p) => p.value),
      [100],
    );
    const started = Object.fromEntries(
      byName.get('grpc.lb.traffic_split.attempt.started')!.dataPoints.map((p) => [p.attributes[SUBSET], p.value]),
    );
    assert.deepEqual(started, { v1: 4, v2: 0 });
    assert.deepEqual(
      spans.getFinishedSpans().map((span) => span.attributes[SUBSET]),
      ['v1', 'v1', 'v1', 'v1'],
    );
  });
});

/**
 * The metrics catalogue against a real split with a mirror and a baseline (so every optional
 * part of `stats()` is there): every figure has an entry, and Prometheus, OpenTelemetry and the
 * prom-client example export exactly the catalogue.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import * as api from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { registerSplitMetrics } from '../examples/prometheus/split-metrics.js';
import { TrafficSplit, type SplitStats } from '../src/index.js';
import {
  instrumentTrafficSplit,
  METRIC_LABELS,
  METRICS,
  NOT_FIGURES,
  renderPrometheusMetrics,
  type MetricDefinition,
} from '../src/ops/index.js';
import { callEcho, echoClient, type EchoClientInstance } from './helpers/echo-service.js';
import { drainStream } from './helpers/shop-service.js';
import { covers, leafPaths, metricsTable } from './helpers/metrics-catalogue.js';
import { copiesSettled, plainAnswer, startRecordingServer } from './helpers/mirror-rig.js';
import { parsePrometheusText, type ParsedFamily } from './helpers/prometheus-parser.js';
import { closeAfter, connect, waitForSubsetsReady } from './helpers/split-helpers.js';

const CALLS = 4;

/** v1 serving, v2 mirrored with a baseline, `down` never READY; v2 changes the first answer (one
 * mismatch, one field). */
async function mirroredSplit(t: TestContext): Promise<{ split: TrafficSplit; client: EchoClientInstance }> {
  const v1 = await startRecordingServer('v1', plainAnswer);
  const v2 = await startRecordingServer('v2', (request) => ({
    reply: { text: request.text === 'req-0' ? 'other' : request.text },
  }));
  const baseline = await startRecordingServer('baseline', plainAnswer);
  const down = await startRecordingServer('down', plainAnswer);
  down.kill();
  const subsets = { v1: v1.target, v2: v2.target, baseline: baseline.target, down: down.target };
  const split = new TrafficSplit({
    name: 'catalogue',
    subsets,
    weights: { v1: 100, v2: 0, baseline: 0, down: 0 },
    methodWeights: { '/test.Echo/Chat': { v1: 100, v2: 0, baseline: 0, down: 0 } },
  });
  const client = echoClient(split.target, split.channelOptions);
  closeAfter(t, client, split, v1, v2, baseline);
  connect(client);
  await waitForSubsetsReady(split, ['v1', 'v2', 'baseline']);
  // A call bound to a subset that never gets READY ends without starting (`notStarted`).
  await assert.rejects(
    callEcho(client, {}, undefined, { ...split.route({ subset: 'down' }), deadline: Date.now() + 1_000 }),
  );
  split.setMirror({
    subset: 'v2',
    percent: 100,
    compare: true,
    noise: { subset: 'baseline', decode: (bytes) => JSON.parse(bytes.toString()) },
  });
  for (let i = 0; i < CALLS; i++) await callEcho(client, { text: `req-${i}` });
  // A stream of three messages: a first message, two gaps, an end after a message.
  assert.equal((await drainStream(client.stream({ count: 3 }))).replies.length, 3);
  await copiesSettled(split);
  return { split, client };
}

/** The `stats()` leaves that no entry exporting to `side` (nor `NOT_FIGURES`) covers. */
function uncovered(stats: SplitStats, side: 'prometheus' | 'otel'): string[] {
  const patterns = [...METRICS.filter((m) => m[side] !== null).flatMap((m) => m.from), ...Object.keys(NOT_FIGURES)];
  return leafPaths(stats).filter((path) => !patterns.some((pattern) => covers(pattern, path)));
}

/** `name type help` of each family, and each sample as `name{labels} value`. */
function describeFamilies(families: Map<string, ParsedFamily>): { families: string[]; samples: Map<string, number> } {
  const samples = new Map<string, number>();
  for (const [name, family] of families) {
    for (const s of family.samples) samples.set(`${name}${JSON.stringify(Object.entries(s.labels).sort())}`, s.value);
  }
  return { families: [...families].map(([name, f]) => `${name} ${f.type} ${f.help}`), samples };
}

/** Equal within the 15 significant digits the Prometheus text keeps (see prometheus-text.ts). */
const sameFigure = (a: number, b: number | undefined) => b !== undefined && Math.abs(a - b) <= Math.abs(b) * 1e-14;

const prometheusOf = (metrics: readonly MetricDefinition[]) =>
  metrics.flatMap((m) => (m.prometheus === null ? [] : [`${m.prometheus.name} ${m.prometheus.type} ${m.help}`]));

/** How each instrument kind comes out of the SDK. */
const OTEL_TYPES = { counter: 'SUM monotonic', upDownCounter: 'SUM', gauge: 'GAUGE', histogram: 'HISTOGRAM' } as const;
const typeOf = (m: MetricData) =>
  `${DataPointType[m.dataPointType]}${m.dataPointType === DataPointType.SUM && m.isMonotonic ? ' monotonic' : ''}`;

describe('the metrics catalogue', () => {
  it(
    'has an entry for every figure of stats(), for Prometheus ' +
      'and for OpenTelemetry, and no entry for a path stats() lacks',
    async (t) => {
      const stats = (await mirroredSplit(t)).split.stats();
      // Every optional part is there, so the walk sees every figure.
      assert.ok(
        stats.mirror?.noise !== undefined && stats.mirror.noise.fields.length > 0 && stats.mirror.samples.length > 0,
        JSON.stringify(stats.mirror),
      );
      assert.equal(Object.keys(stats.subsets['down']!.notStarted).length, 1, JSON.stringify(stats.notStarted));
      for (const side of ['prometheus', 'otel'] as const) {
        const missing = uncovered(stats, side);
        assert.deepEqual(
          missing,
          [],
          `stats() figures with no ${side} entry in src/ops/telemetry/metrics-catalogue.ts: ${missing.join(', ')}`,
        );
      }
      const paths = leafPaths(stats);
      const stale = [...METRICS.flatMap((m) => m.from), ...Object.keys(NOT_FIGURES)].filter(
        (pattern) => !paths.some((path) => covers(pattern, path)),
      );
      assert.deepEqual(stale, [], 'catalogue paths that stats() does not have');
    },
  );

  it('is what Prometheus, OpenTelemetry and the prom-client example export', async (t) => {
    const { split, client } = await mirroredSplit(t);

    const text = parsePrometheusText(renderPrometheusMetrics(split));
    const library = describeFamilies(text);
    assert.deepEqual(library.families, prometheusOf(METRICS));
    for (const metric of METRICS) {
      if (metric.prometheus === null) continue;
      const family = text.get(metric.prometheus.name)!;
      assert.ok(family.samples.length > 0 || metric.from.length === 0, `${metric.prometheus.name} has samples`);
      const names = ['split', ...metric.labels.map((label) => METRIC_LABELS[label].prometheus)];
      for (const sample of family.samples) assert.deepEqual(Object.keys(sample.labels), names, metric.prometheus.name);
      if (metric.unit === 's') assert.match(metric.prometheus.name, /_seconds$/);
      if (metric.unit === 'By') assert.match(metric.prometheus.name, /_bytes$/);
      if (metric.prometheus.type === 'counter') assert.match(metric.prometheus.name, /_total$/);
    }

    // prom-client separates families with a blank line, which Prometheus skips (the strict parser does not).
    const example = describeFamilies(
      parsePrometheusText((await registerSplitMetrics(split).metrics()).replace(/\n\n+/g, '\n')),
    );
    assert.deepEqual(example.families, library.families);
    assert.deepEqual([...example.samples.keys()].sort(), [...library.samples.keys()].sort());
    for (const [key, value] of library.samples)
      assert.ok(sameFigure(example.samples.get(key)!, value), `${key}: ${value}`);

    // OpenTelemetry: the instruments created, and what an SDK reader collects from them.
    const created: string[] = [];
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    t.after(() => provider.shutdown());
    const recording = (meter: api.Meter): api.Meter =>
      new Proxy(meter, {
        get: (target, key: keyof api.Meter) =>
          typeof key === 'string' && key.startsWith('create')
            ? (name: string, options: api.MetricOptions) => (
                created.push(`${name} ${key} ${options.unit} ${options.description}`),
                (target[key] as (...args: unknown[]) => unknown).call(target, name, options)
              )
            : target[key],
      });
    const telemetry = await instrumentTrafficSplit(split, {
      api,
      tracing: false,
      meterProvider: { getMeter: (name) => recording(provider.getMeter(name)) },
    });
    t.after(() => telemetry.stop());
    const kinds = {
      counter: 'createObservableCounter',
      upDownCounter: 'createObservableUpDownCounter',
      gauge: 'createObservableGauge',
      histogram: 'createHistogram',
    };
    const withOtel = METRICS.filter((m) => m.otel !== null);
    assert.deepEqual(
      created,
      withOtel.map((m) => `${m.otel!.name} ${kinds[m.otel!.instrument]} ${m.unit} ${m.help}`),
    );

    // A call and a stream for the histograms, which record what happens while instrumented.
    await callEcho(client, { text: 'timed' });
    await drainStream(client.stream({ count: 3 }));
    await copiesSettled(split);
    await reader.forceFlush();
    const collected = new Map<string, MetricData>();
    for (const resource of exporter.getMetrics())
      for (const scope of resource.scopeMetrics) for (const m of scope.metrics) collected.set(m.descriptor.name, m);
    // The SDK leaves out an instrument without points: here only the rollout's (no rollout ran).
    const expected = withOtel.filter((m) => m.from.length > 0);
    assert.deepEqual(
      [...collected.values()].map((m) => `${m.descriptor.name} ${typeOf(m)} ${m.descriptor.unit}`).sort(),
      expected.map((m) => `${m.otel!.name} ${OTEL_TYPES[m.otel!.instrument]} ${m.unit}`).sort(),
    );
    const fresh = describeFamilies(parsePrometheusText(renderPrometheusMetrics(split)));
    for (const metric of expected) {
      const names = ['grpc.target', ...metric.labels.map((label) => METRIC_LABELS[label].otel)];
      for (const point of collected.get(metric.otel!.name)!.dataPoints) {
        assert.deepEqual(Object.keys(point.attributes), names, metric.otel!.name);
        assert.equal(point.attributes['grpc.target'], split.target);
        if (metric.prometheus === null) continue;
        // The same value as the Prometheus sample with the same labels.
        const labels = Object.fromEntries([
          ['split', 'catalogue'],
          ...metric.labels.map((l) => [METRIC_LABELS[l].prometheus, String(point.attributes[METRIC_LABELS[l].otel])]),
        ]);
        const text = fresh.samples.get(`${metric.prometheus.name}${JSON.stringify(Object.entries(labels).sort())}`);
        assert.ok(
          sameFigure(point.value as number, text),
          `${metric.otel!.name} ${JSON.stringify(labels)}: ${String(point.value)} vs ${text}`,
        );
      }
    }
  });

  it('is the metrics reference of docs/operations.md', () => {
    const docs = readFileSync('docs/operations.md', 'utf8');
    const table = /<!-- metrics-catalogue:begin -->\n([^]*?)\n<!-- metrics-catalogue:end -->/.exec(docs)?.[1];
    assert.equal(
      table,
      metricsTable(),
      `docs/operations.md: put this table between the metrics-catalogue markers:\n${metricsTable()}`,
    );
  });
});

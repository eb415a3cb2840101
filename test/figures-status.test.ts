/**
 * The figures count the status the application received (README, "What the figures count"): for
 * every way grpc-js turns a server's answer into another status on the client, a split's
 * `stats()`, Prometheus text and OpenTelemetry count, for the subset that served the call, the
 * status its application saw, which is the status a plain round_robin channel's application sees
 * for the same answer, in the same test.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as api from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import { TrafficSplit, type SplitStats } from '../src/index.js';
import { instrumentTrafficSplit, renderPrometheusMetrics, startRollout } from '../src/ops/index.js';
import { echoClient, type EchoClientInstance, type EchoReply, type EchoRequest } from './helpers/echo-service.js';
import { FakeClock } from './helpers/fake-clock.js';
import { parsePrometheusText } from './helpers/prometheus-parser.js';
import { makeCalls } from './helpers/rollout-rig.js';
import {
  MAX_RECEIVE_BYTES,
  startRewritingServer,
  type Answer,
  type RewritingServer,
} from './helpers/rewriting-server.js';
import { startServer } from './helpers/servers.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

const CLIENT_OPTIONS = { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES };
const ROUND_ROBIN = {
  ...CLIENT_OPTIONS,
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
};

type Collect = (
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<EchoReply>,
) => grpc.ClientWritableStream<EchoRequest>;

/** One call's outcome for its application: `OK` or the status name. */
async function outcome(
  client: EchoClientInstance,
  kind: 'unary' | 'client-streaming',
  how: Answer,
  {
    deadlineMs = 10_000,
    cancelWhenHeldBy,
    options = {},
  }: { deadlineMs?: number; cancelWhenHeldBy?: RewritingServer; options?: grpc.CallOptions } = {},
): Promise<string> {
  const held = cancelWhenHeldBy?.nextHeld();
  return new Promise((resolve) => {
    const done: grpc.requestCallback<EchoReply> = (error) => resolve(error ? grpc.status[error.code] : 'OK');
    const callOptions = { ...options, deadline: Date.now() + deadlineMs };
    let call: grpc.ClientUnaryCall | grpc.ClientWritableStream<EchoRequest>;
    if (kind === 'unary') {
      call = client.echo({ text: how }, new grpc.Metadata(), callOptions, done);
    } else {
      const stream = (client.collect as unknown as Collect).call(client, new grpc.Metadata(), callOptions, done);
      stream.write({ text: how });
      stream.end();
      call = stream;
    }
    void held?.then(() => call.cancel());
  });
}

/** `codes` of each subset, and the same from the Prometheus text, which must agree. */
function countedCodes(split: TrafficSplit): Record<string, SplitStats['subsets'][string]['codes']> {
  const stats = split.stats();
  const fromStats = Object.fromEntries(Object.entries(stats.subsets).map(([name, s]) => [name, s.codes]));
  const fromText: Record<string, Record<string, number>> = Object.fromEntries(split.subsets.map((name) => [name, {}]));
  for (const sample of parsePrometheusText(renderPrometheusMetrics(split)).get('traffic_split_calls_finished_total')!
    .samples) {
    fromText[sample.labels['subset']!]![sample.labels['code']!] = sample.value;
  }
  assert.deepEqual(fromText, fromStats, 'Prometheus counts what stats() counts');
  return fromStats;
}

/** Waits until no attempt of the split is in flight (each call's answer is counted). */
async function settled(split: TrafficSplit): Promise<void> {
  await eventually(
    () => Object.values(split.stats().subsets).every((s) => s.inFlight === 0),
    () => JSON.stringify(split.stats().subsets),
  );
}

interface StatusRig {
  v2: RewritingServer;
  split: TrafficSplit;
  client: EchoClientInstance;
  /** A plain round_robin channel to v2's server. */
  plain: EchoClientInstance;
}

/** v1 an echo server, v2 a rewriting server, a split at `weights` and a plain channel to v2. */
async function statusRig(t: TestContext, weights: Record<string, number>): Promise<StatusRig> {
  const v1 = await startServer('v1');
  const v2 = await startRewritingServer('v2');
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights });
  const client = echoClient(split.target, { ...split.channelOptions, ...CLIENT_OPTIONS });
  const plain = echoClient(v2.target, ROUND_ROBIN);
  closeAfter(t, client, plain, split, v1, v2);
  connect(client, plain);
  await waitForSubsetsReady(split);
  return { v2, split, client, plain };
}

/** An in-memory OpenTelemetry metric pipeline; `durationPoints()` exports once. */
function otelPipeline(t: TestContext) {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  t.after(() => provider.shutdown());
  return {
    provider,
    /** `{ "<subset> <status>": attempts }` of the attempt duration histogram. */
    async durationPoints(): Promise<Record<string, number>> {
      exporter.reset();
      await reader.forceFlush();
      const metric = exporter
        .getMetrics()
        .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
        .find((m) => m.descriptor.name === 'grpc.lb.traffic_split.attempt.duration');
      assert.ok(metric !== undefined, 'attempt duration exported');
      return Object.fromEntries(
        (metric.dataPoints as DataPoint<Histogram>[]).map((p) => [
          `${String(p.attributes['grpc.lb.traffic_split.subset'])} ${String(p.attributes['grpc.status'])}`,
          p.value.count,
        ]),
      );
    },
  };
}

describe('figures count the status the application received', () => {
  it(
    'counts a unary call answered OK without a message as the UNIMPLEMENTED ' +
      'its application gets, in stats(), Prometheus and OpenTelemetry',
    async (t) => {
      const { split, client, plain } = await statusRig(t, { v1: 50, v2: 50 });
      const otel = otelPipeline(t);
      const telemetry = await instrumentTrafficSplit(split, { api, meterProvider: otel.provider, tracing: false });
      t.after(() => telemetry.stop());

      // The plain channel's application: grpc-js makes the answer UNIMPLEMENTED ("No message received").
      assert.deepEqual(await Promise.all([1, 2, 3].map(() => outcome(plain, 'unary', 'no-message'))), [
        'UNIMPLEMENTED',
        'UNIMPLEMENTED',
        'UNIMPLEMENTED',
      ]);
      // Through the split: v1 (an echo server) answers with a message, v2 as the plain channel's server.
      const seen: Record<string, number> = {};
      for (let i = 0; i < 10; i++) {
        const result = await outcome(client, 'unary', 'no-message');
        seen[result] = (seen[result] ?? 0) + 1;
      }
      assert.deepEqual(Object.keys(seen).sort(), ['OK', 'UNIMPLEMENTED']);
      assert.ok(
        seen['UNIMPLEMENTED']! >= 4 && seen['UNIMPLEMENTED']! <= 6,
        `v2 served ${seen['UNIMPLEMENTED']} of 10 calls at 50/50`,
      );
      await settled(split);
      assert.deepEqual(countedCodes(split), { v1: { OK: seen['OK'] }, v2: { UNIMPLEMENTED: seen['UNIMPLEMENTED'] } });
      assert.deepEqual(await otel.durationPoints(), {
        'v1 OK': seen['OK'],
        'v2 UNIMPLEMENTED': seen['UNIMPLEMENTED'],
      });
      const v2 = split.stats().subsets['v2']!;
      assert.deepEqual([v2.started, v2.finished, v2.inFlight], [seen['UNIMPLEMENTED'], seen['UNIMPLEMENTED'], 0]);
    },
  );

  it(
    'rolls back a v2 whose every unary call is answered OK without ' +
      'a message (failureCodes UNIMPLEMENTED, maxErrorRate 0.01)',
    async (t) => {
      const { split, client } = await statusRig(t, { v1: 1, v2: 0 });
      const clock = new FakeClock();
      const intervalMs = 100;
      const rollout = startRollout(split, {
        subset: 'v2',
        steps: [10, 50],
        intervalMs,
        clock,
        analysis: { failureCodes: ['UNIMPLEMENTED'], maxErrorRate: 0.01, minCalls: 1 },
      });
      // 40 sequential calls at 90/10: the schedule gives v2 exactly one call in every ten.
      assert.deepEqual((await makeCalls(client, 40, { request: { text: 'no-message' } })).counts, {
        v1: 36,
        'error:12': 4,
      });
      await settled(split);
      const verdict = once(rollout, 'verdict');
      clock.advance(intervalMs);
      const [step] = (await verdict) as [{ verdict: string; figures: { calls: number; failures: number } }];
      assert.deepEqual([step.verdict, step.figures.calls, step.figures.failures], ['fail', 4, 4]);
      const result = await rollout.done;
      assert.equal(result.outcome, 'rolled-back');
      assert.equal(result.reason, 'step 1 (10%): error rate 100% (4 of 4 calls) > 1%');
      assert.deepEqual(split.getWeights(), { v1: 1, v2: 0 });
    },
  );

  /** What a plain channel's application and a split's see and count, for one answer of v2. */
  const cases: {
    name: string;
    kind: 'unary' | 'client-streaming';
    how: Answer;
    expected: string;
    deadlineMs?: number;
    cancel?: true;
  }[] = [
    // grpc-js 1.14 reads one message of a unary response: the second is never read and the
    // status waits behind it, so the call ends by its deadline (without one, never).
    {
      name: 'two messages on a unary call',
      kind: 'unary',
      how: 'two-messages',
      expected: 'DEADLINE_EXCEEDED',
      deadlineMs: 300,
    },
    {
      name: 'two messages on a client-streaming call',
      kind: 'client-streaming',
      how: 'two-messages',
      expected: 'UNIMPLEMENTED',
    },
    {
      name: 'no message on a client-streaming call',
      kind: 'client-streaming',
      how: 'no-message',
      expected: 'UNIMPLEMENTED',
    },
    { name: 'an undecodable message', kind: 'unary', how: 'undecodable', expected: 'INTERNAL' },
    { name: 'a message over the receive size limit', kind: 'unary', how: 'oversized', expected: 'RESOURCE_EXHAUSTED' },
    { name: 'a call the application cancelled', kind: 'unary', how: 'hold', expected: 'CANCELLED', cancel: true },
    { name: 'a deadline exceeded', kind: 'unary', how: 'hold', expected: 'DEADLINE_EXCEEDED', deadlineMs: 200 },
  ];
  for (const c of cases) {
    it(`counts what the application saw for ${c.name}: ${c.expected}, as on a plain round_robin channel`, async (t) => {
      const { v2, split, client, plain } = await statusRig(t, { v1: 0, v2: 1 });
      const run = (on: EchoClientInstance) =>
        outcome(on, c.kind, c.how, {
          ...(c.deadlineMs !== undefined && { deadlineMs: c.deadlineMs }),
          ...(c.cancel && { cancelWhenHeldBy: v2 }),
        });
      const plainSaw = await run(plain);
      const splitSaw = await run(client);
      assert.deepEqual([plainSaw, splitSaw], [c.expected, c.expected]);
      await settled(split);
      assert.deepEqual(countedCodes(split), { v1: {}, v2: { [splitSaw]: 1 } });
      const v2Stats = split.stats().subsets['v2']!;
      assert.deepEqual([v2Stats.started, v2Stats.finished, v2Stats.abandoned, v2Stats.refused], [1, 1, 0, 0]);
      assert.deepEqual(split.stats().notStarted, {});
    });
  }
});

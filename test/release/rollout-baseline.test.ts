import assert from 'node:assert/strict';
import { setImmediate as settle } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as api from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { TrafficSplit, TrafficSplitRangeError, TrafficSplitTypeError } from '../../src/index.js';
import {
  activeRollout,
  instrumentTrafficSplit,
  renderPrometheusMetrics,
  startAdminServer,
  type Rollout,
  type RolloutOptions,
  type RolloutStepPlan,
  startRollout,
} from '../../src/ops/index.js';
import { callEcho, echoClient, type EchoClientInstance, type EchoRequest } from '../helpers/echo-service.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { parsePrometheusText } from '../helpers/prometheus-parser.js';
import { makeCalls, rolloutRig } from '../helpers/rollout-rig.js';
import { startServer } from '../helpers/servers.js';
import { connect, waitForSubsetsReady } from '../helpers/split-helpers.js';
// mulberry32, seeded: the simulation draws the same numbers on every run.
import { seededRandom as prng } from '../../benchmarks/random-pick.js';

const INTERVAL_MS = 1_000;

/** `calls` sequential calls, each with its own request; resolves when all have finished. */
async function callsWith(
  client: EchoClientInstance,
  calls: number,
  requestFor: () => EchoRequest,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < calls; i++) {
    const key = await callEcho(client, requestFor(), new grpc.Metadata(), { deadline: Date.now() + 10_000 }).then(
      (reply) => reply.server,
      (error: grpc.ServiceError) => `error:${error.code}`,
    );
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Runs every step: `traffic` makes the step's calls (all finished when it resolves), then the
 * fake clock ends the interval, so each verdict depends only on those calls.
 */
async function runSteps(rollout: Rollout, clock: FakeClock, traffic: () => Promise<unknown>) {
  while (rollout.state === 'running') {
    await traffic();
    clock.advance(INTERVAL_MS);
    await settle();
  }
  return rollout.done;
}

const options = (analysis: RolloutOptions['analysis'], clock: FakeClock, steps = [10, 50]): RolloutOptions => ({
  subset: 'v2',
  steps,
  intervalMs: INTERVAL_MS,
  analysis,
  clock,
});

describe('rollout judged against a baseline', () => {
  it(
    'promotes a v2 15 ms slower than v1 on maxErrorRate alone, ' +
      'and rolls it back at the first step against baseline v1',
    async (t) => {
      const slow: EchoRequest = { slowServer: 'v2', delayMs: 15 };
      const { split, client } = await rolloutRig(t, { v1: 100, v2: 0 });
      const absoluteClock = new FakeClock();
      const absolute = startRollout(split, options({ maxErrorRate: 0.05, minCalls: 10 }, absoluteClock));
      const promoted = await runSteps(absolute, absoluteClock, () => makeCalls(client, 200, { request: slow }));
      assert.equal(promoted.outcome, 'promoted', promoted.reason);

      split.setWeights({ v1: 100, v2: 0 });
      const clock = new FakeClock();
      const judged = startRollout(split, options({ maxErrorRate: 0.05, minCalls: 10, baseline: 'v1' }, clock));
      const result = await runSteps(judged, clock, () => makeCalls(client, 200, { request: slow }));
      assert.equal(result.outcome, 'rolled-back');
      assert.equal(result.history.length, 1);
      assert.match(
        result.reason,
        /^step 1 \(10%\): latency: v2 median [\d.]+ ms vs v1 [\d.]+ ms \(x[\d.]+ > 1\.2\), Mann-Whitney p < 0\.001$/,
      );
      const comparison = result.history[0]!.comparison!;
      assert.deepEqual(comparison.subsets, { canary: 'v2', baseline: 'v1' });
      assert.equal(comparison.canary.calls, 20);
      assert.equal(comparison.baseline.calls, 180);
      // U counts the (v2, v1) pairs where v2 was slower: all 3600 unless a v1 call was delayed
      // by the machine itself, which a loaded machine may do to a few.
      assert.ok(comparison.latency.u > 0.75 * 20 * 180, `U ${comparison.latency.u}`);
      assert.ok(comparison.canary.p50Ms! >= 15, `v2 median ${comparison.canary.p50Ms} ms`);
      assert.ok(comparison.latency.pValue < 0.001);
      assert.equal(comparison.errors.pValue, 1);
      assert.deepEqual(split.getWeights(), { v1: 100, v2: 0 });
    },
  );

  it('promotes a v2 failing 3% with INTERNAL on maxErrorRate 0.05 alone, and rolls it back against baseline v1', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 100, v2: 0 });
    // Each call asks v2 (and only v2) to fail with probability 3%: v1 never fails.
    const traffic = (random: () => number) => () =>
      callsWith(client, 1_200, () => (random() < 0.03 ? { failWith: grpc.status.INTERNAL, failOn: 'v2' } : {}));

    const absoluteClock = new FakeClock();
    const absolute = startRollout(split, options({ maxErrorRate: 0.05, minCalls: 100 }, absoluteClock, [50]));
    const promoted = await runSteps(absolute, absoluteClock, traffic(prng(11)));
    assert.equal(promoted.outcome, 'promoted', promoted.reason);
    const rate = promoted.history[0]!.figures.errorRate;
    assert.ok(rate > 0.01 && rate <= 0.05, `v2 error rate ${rate}`);

    split.setWeights({ v1: 100, v2: 0 });
    const clock = new FakeClock();
    const judged = startRollout(split, options({ maxErrorRate: 0.05, minCalls: 100, baseline: 'v1' }, clock, [50]));
    const result = await runSteps(judged, clock, traffic(prng(11)));
    assert.equal(result.outcome, 'rolled-back', result.reason);
    const comparison = result.history[0]!.comparison!;
    assert.equal(comparison.baseline.failures, 0);
    assert.equal(comparison.canary.calls + comparison.baseline.calls, 1_200);
    assert.ok(comparison.errors.pValue < 0.01, `${comparison.errors.pValue}`);
    assert.equal(comparison.errors.failed, true);
    assert.match(
      result.reason,
      /^step 1 \(50%\): errors: v2 [\d.]+% \(\d+ of \d+\) vs v1 0% \(0 of \d+\) \(\+[\d.]+% > 0\.5%\), Fisher p [<=] [\d.]+$/,
    );
    assert.deepEqual(split.getWeights(), { v1: 100, v2: 0 });
  });

  it('reports the last comparison p-values and effect sizes on /metrics and OpenTelemetry', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 100, v2: 0 });
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    // The interval is a hang guard only: the collection below is an explicit forceFlush().
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    t.after(() => provider.shutdown());
    const telemetry = await instrumentTrafficSplit(split, { api, meterProvider: provider, tracing: false });
    t.after(() => telemetry.stop());
    assert.equal(
      parsePrometheusText(renderPrometheusMetrics(split)).get('traffic_split_rollout_p_value')!.samples.length,
      0,
    );

    const clock = new FakeClock();
    const rollout = startRollout(split, options({ minCalls: 10, baseline: 'v1' }, clock, [50]));
    const result = await runSteps(rollout, clock, () =>
      makeCalls(client, 100, { request: { failWith: grpc.status.INTERNAL, failOn: 'v2' } }),
    );
    const comparison = result.history[0]!.comparison!;
    const families = parsePrometheusText(renderPrometheusMetrics(split));
    const samples = (name: string, key: string) =>
      Object.fromEntries(
        families
          .get(name)!
          .samples.map((x) => [`${x.labels['subset']}/${x.labels['baseline']}/${x.labels[key]}`, x.value]),
      );
    // The text format carries 15 significant digits (see prometheus-text.ts).
    const inText = (value: number | null) => (value === null ? null : Number(value.toPrecision(15)));
    assert.deepEqual(samples('traffic_split_rollout_p_value', 'test'), {
      'v2/v1/errors': inText(comparison.errors.pValue),
      'v2/v1/latency': inText(comparison.latency.pValue),
    });
    assert.deepEqual(samples('traffic_split_rollout_effect', 'effect'), {
      'v2/v1/error_rate_increase': 1,
      'v2/v1/median_latency_ratio': inText(comparison.latency.medianRatio),
    });
    assert.ok(comparison.errors.pValue < 1e-10);

    exporter.reset();
    await reader.forceFlush();
    const points: Record<string, number> = {};
    for (const resource of exporter.getMetrics()) {
      for (const scope of resource.scopeMetrics) {
        for (const metric of scope.metrics) {
          if (!metric.descriptor.name.startsWith('grpc.lb.traffic_split.rollout.')) continue;
          for (const point of metric.dataPoints) {
            const a = point.attributes;
            const kind = a['grpc.lb.traffic_split.test'] ?? a['grpc.lb.traffic_split.effect'];
            points[
              `${metric.descriptor.name} ${a['grpc.lb.traffic_split.subset']}/${a['grpc.lb.traffic_split.baseline']}/${kind}`
            ] = point.value as number;
          }
        }
      }
    }
    assert.deepEqual(points, {
      'grpc.lb.traffic_split.rollout.p_value v2/v1/errors': comparison.errors.pValue,
      'grpc.lb.traffic_split.rollout.p_value v2/v1/latency': comparison.latency.pValue,
      'grpc.lb.traffic_split.rollout.effect v2/v1/error_rate_increase': 1,
      'grpc.lb.traffic_split.rollout.effect v2/v1/median_latency_ratio': comparison.latency.medianRatio,
    });
  });

  it('waits for minCalls on both subsets', async (t) => {
    const { split, client } = await rolloutRig(t, { v1: 100, v2: 0 });
    const clock = new FakeClock();
    const rollout = startRollout(split, options({ minCalls: 30, baseline: 'v1', maxWaitIntervals: 0 }, clock, [50]));
    await makeCalls(client, 40);
    clock.advance(INTERVAL_MS);
    const result = await rollout.done;
    assert.equal(
      result.reason,
      'step 1 (50%): too few calls: 20 on v2 and 20 on v1 of minCalls 30 after 0 extra intervals',
    );
  });
});

/** stable, baseline and canary servers behind one split, all READY. */
async function threeSubsets(t: TestContext): Promise<{ split: TrafficSplit; client: EchoClientInstance }> {
  const servers = await Promise.all(['stable', 'baseline', 'canary'].map((name) => startServer(name)));
  const split = new TrafficSplit({
    subsets: Object.fromEntries(servers.map((s) => [s.name, s.target])),
    weights: { stable: 100, baseline: 0, canary: 0 },
  });
  const client = echoClient(split.target, split.channelOptions);
  t.after(async () => {
    client.close();
    split.close();
    await Promise.all(servers.map((s) => s.kill()));
  });
  connect(client);
  await waitForSubsetsReady(split);
  return { split, client };
}

describe('baseline experiment mode', () => {
  const experiment = (clock: FakeClock): RolloutOptions => ({
    subset: 'canary',
    baseline: 'baseline',
    steps: [10, 25, 50],
    intervalMs: INTERVAL_MS,
    analysis: { minCalls: 10 },
    clock,
  });

  it('gives the baseline exactly the canary share at every step and 0 after the promotion', async (t) => {
    const { split, client } = await threeSubsets(t);
    const clock = new FakeClock();
    const rollout = startRollout(split, experiment(clock));
    const steps: RolloutStepPlan[] = [];
    rollout.on('step', (step) => steps.push(step));
    const result = await runSteps(rollout, clock, () => makeCalls(client, 200));
    assert.equal(result.outcome, 'promoted', result.reason);
    assert.deepEqual(
      steps.map((s) => s.weights),
      [
        { stable: 80, baseline: 10, canary: 10 },
        { stable: 50, baseline: 25, canary: 25 },
        { stable: 0, baseline: 50, canary: 50 },
      ],
    );
    for (const record of result.history) {
      assert.deepEqual(record.comparison!.subsets, { canary: 'canary', baseline: 'baseline' });
      assert.equal(
        record.comparison!.canary.calls,
        record.comparison!.baseline.calls,
        `step ${record.step}: equal shares, equal calls`,
      );
    }
    assert.deepEqual(split.getWeights(), { stable: 0, baseline: 0, canary: 100 });
  });

  it('puts the baseline back to 0 on a rollback', async (t) => {
    const { split, client } = await threeSubsets(t);
    const clock = new FakeClock();
    const rollout = startRollout(split, experiment(clock));
    const result = await runSteps(rollout, clock, () =>
      makeCalls(client, 400, { request: { failWith: grpc.status.INTERNAL, failOn: 'canary' } }),
    );
    assert.equal(result.outcome, 'rolled-back');
    assert.match(result.reason, /^step 1 \(10%\): errors: canary 100% \(40 of 40\) vs baseline 0% \(0 of 40\)/);
    assert.deepEqual(split.getWeights(), { stable: 100, baseline: 0, canary: 0 });
  });

  it('starts a baseline experiment through POST /rollout and refuses a bad comparison option there', async (t) => {
    const { split } = await threeSubsets(t);
    const token = 'a-token-long-enough-for-the-admin';
    const server = await startAdminServer(split, { port: 0, token });
    t.after(() => server.close());
    const post = async (body: unknown) => {
      const response = await fetch(`${server.url}/rollout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const bad = await post({
      subset: 'canary',
      baseline: 'baseline',
      steps: [10],
      intervalMs: 60_000,
      analysis: { maxLatencyRatio: 0.5 },
    });
    assert.equal(bad.status, 400);
    assert.match(
      JSON.stringify(bad.json),
      /analysis\.maxLatencyRatio: expected a finite number >= 1, got `0\.5` \(number\)/,
    );
    assert.deepEqual(split.getWeights(), { stable: 100, baseline: 0, canary: 0 });
    const started = await post({
      subset: 'canary',
      baseline: 'baseline',
      steps: [10, 50],
      intervalMs: 60_000,
      analysis: { minCalls: 100 },
    });
    assert.equal(started.status, 202);
    assert.deepEqual(split.getWeights(), { stable: 80, baseline: 10, canary: 10 });
    const result = await activeRollout(split)!.abort();
    assert.equal(result.outcome, 'aborted');
    assert.deepEqual(split.getWeights(), { stable: 100, baseline: 0, canary: 0 });
  });

  it('refuses a baseline that serves, steps above 50 and an unknown baseline, changing nothing', () => {
    const split = new TrafficSplit({
      subsets: { stable: 'ipv4:127.0.0.1:1', baseline: 'ipv4:127.0.0.1:1', canary: 'ipv4:127.0.0.1:1' },
      weights: { stable: 90, baseline: 10, canary: 0 },
    });
    const base = { subset: 'canary', intervalMs: 1000, analysis: {} };
    assert.throws(
      () => startRollout(split, { ...base, baseline: 'baseline', steps: [10] }),
      (e: Error) =>
        e instanceof TrafficSplitRangeError &&
        e.message.startsWith('baseline: expected a subset at weight 0 when the rollout starts'),
    );
    assert.throws(
      () => startRollout(split, { ...base, baseline: 'baseline', steps: [10, 60] }),
      (e: Error) =>
        e instanceof TrafficSplitRangeError &&
        e.message ===
          'steps[1]: expected a percentage of at most 50 with a baseline (it gets the same share), got `60` (number)',
    );
    assert.throws(
      () => startRollout(split, { ...base, steps: [10], analysis: { baseline: 'v9' } }),
      (e: Error) =>
        e instanceof TrafficSplitTypeError &&
        e.message === 'analysis.baseline: expected one of the other subsets stable, baseline, got `"v9"` (string)',
    );
    assert.throws(
      () => startRollout(split, { ...base, steps: [10], analysis: { baseline: 'stable', confidence: 1 } }),
      (e: Error) =>
        e instanceof TrafficSplitRangeError &&
        e.message === 'analysis.confidence: expected a number above 0.5 and below 1, got `1` (number)',
    );
    assert.throws(
      () => startRollout(split, { ...base, steps: [10], analysis: {} }),
      TrafficSplitTypeError,
      'maxErrorRate still required without a baseline',
    );
    assert.deepEqual(split.getWeights(), { stable: 90, baseline: 10, canary: 0 });
    split.close();
  });
});

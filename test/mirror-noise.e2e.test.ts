/**
 * The three-way comparison on real servers: v1 (the primaries), v2 (the canary) and a baseline
 * running v1's code, each answering a quote with a timestamp and a random request id.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { seededRandom } from '../src/algorithms/random.js';
import { TrafficSplit, type MirrorFieldStats } from '../src/index.js';
import { startAdminServer, startRollout, type RolloutOptions, type ShadowRecord } from '../src/ops/index.js';
import { callEcho, echoClient, type EchoClientInstance, type EchoRequest } from './helpers/echo-service.js';
import { FakeClock } from './helpers/fake-clock.js';
import { copiesSettled, startRecordingServer, type Answer, type RecordingServer } from './helpers/mirror-rig.js';
import { parsePrometheusText } from './helpers/prometheus-parser.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

const CALLS = 400;
const CONCURRENCY = 4;
const SHADOW_MS = 1_000;
const TOKEN = 'test-token-0123456789abcdef';
const decode = (bytes: Buffer): unknown => JSON.parse(bytes.toString());

/** A quote: the same price for the same request on every version, a timestamp (nanoseconds, so
 * two answers never share one) and a random request id. */
function quote(request: EchoRequest, priceChange = 0): Answer {
  const price = 100 + (Number(request.text!.slice(4)) % 7) + priceChange;
  return { reply: { text: request.text, price, servedAt: String(process.hrtime.bigint()), requestId: randomUUID() } };
}

interface NoiseRig {
  v1: RecordingServer;
  v2: RecordingServer;
  baseline: RecordingServer;
  split: TrafficSplit;
  client: EchoClientInstance;
  /** v2's own count of the answers whose price it changed. */
  v2Changed: () => number;
  /** From now on v2 changes the price of 5% of its answers (a seeded draw per answer). */
  breakV2: () => void;
}

async function noiseRig(
  t: TestContext,
  baselineAnswer: (request: EchoRequest) => Answer | Promise<Answer> = quote,
): Promise<NoiseRig> {
  let broken = false;
  let changed = 0;
  const random = seededRandom(20);
  const v1 = await startRecordingServer('v1', quote);
  const v2 = await startRecordingServer('v2', (request) => {
    const change = broken && random() < 0.05;
    if (change) changed++;
    return quote(request, change ? 1 : 0);
  });
  const baseline = await startRecordingServer('baseline', baselineAnswer);
  const split = new TrafficSplit({
    subsets: { v1: v1.target, v2: v2.target, baseline: baseline.target },
    weights: { v1: 100, v2: 0, baseline: 0 },
  });
  const client = echoClient(split.target, split.channelOptions);
  closeAfter(t, client, split, v1, v2, baseline);
  connect(client);
  await waitForSubsetsReady(split);
  return { v1, v2, baseline, split, client, v2Changed: () => changed, breakV2: () => (broken = true) };
}

/** `CALLS` calls, `CONCURRENCY` at a time, each answered by v1; resolves once every copy is counted. */
async function traffic(rig: NoiseRig, from: number): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < from + CALLS) {
      const text = `req-${next++}`;
      assert.equal((await callEcho(rig.client, { text })).text, text);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await copiesSettled(rig.split);
}

const shadowRollout = (clock: FakeClock): RolloutOptions => ({
  subset: 'v2',
  steps: [10],
  intervalMs: 60_000,
  analysis: { maxErrorRate: 0.01, minCalls: 1 },
  shadow: { percent: 100, intervalMs: SHADOW_MS, minCalls: CALLS, noise: { subset: 'baseline', decode } },
  clock,
});

const percent = (rate: number) => `${Math.round(rate * 10000) / 100}%`;
const field = (fields: MirrorFieldStats[], path: string) => fields.find((f) => f.path === path);

describe('mirror with a baseline (three-way comparison) on real servers', () => {
  it(
    'passes a v2 that differs only in a timestamp and a request id, both reported as noise; fails ' +
      'it when it changes the price of 5% of its answers, naming the price at the rate v2 counted',
    async (t) => {
      const rig = await noiseRig(t);
      const clock = new FakeClock();
      const first = startRollout(rig.split, shadowRollout(clock));
      await traffic(rig, 0);
      const judged = once(first, 'shadow') as Promise<[ShadowRecord]>;
      clock.advance(SHADOW_MS);
      const [passed] = await judged;
      const noise = { path: '', canary: CALLS, baseline: CALLS, regressions: 0, noise: true };
      assert.equal(passed.verdict, 'pass');
      assert.equal(
        passed.reason,
        `mismatch rate 0% (0 of ${CALLS} compared copies) <= 0%; failure ` +
          `rate 0% (0 of ${CALLS} copies) <= 1%; noise: requestId, servedAt`,
      );
      assert.deepEqual(passed.noise, {
        subset: 'baseline',
        compared: CALLS,
        withoutBaseline: 0,
        fields: [
          { ...noise, path: 'requestId' },
          { ...noise, path: 'servedAt' },
        ],
      });
      assert.deepEqual(
        [rig.v1.received.length, rig.v2.received.length, rig.baseline.received.length],
        [CALLS, CALLS, CALLS],
        'every call copied to v2 and to the baseline',
      );
      assert.equal(rig.split.stats().subsets['baseline']!.started, 0, 'copies are not in the subsets figures');
      const mirror = rig.split.stats().mirror!;
      assert.deepEqual(
        [mirror.matched, mirror.mismatched, mirror.failed, mirror.noise!.noisy, mirror.noise!.baselineSent],
        [CALLS, 0, 0, CALLS, CALLS],
      );
      await first.abort('next: a v2 that changes prices');

      rig.breakV2();
      const second = startRollout(rig.split, shadowRollout(clock));
      await traffic(rig, CALLS);
      clock.advance(SHADOW_MS);
      const result = await second.done;
      const changed = rig.v2Changed();
      const measured = changed / CALLS; // what v2's server counted over the copies it answered
      assert.ok(changed > 5 && changed < 40, `a 5% draw over ${CALLS} answers: ${changed}`);
      const price = field(result.shadow!.noise!.fields, 'price')!;
      assert.deepEqual(price, { path: 'price', canary: changed, baseline: 0, regressions: changed, noise: false });
      assert.ok(Math.abs(price.regressions / result.shadow!.noise!.compared - measured) <= 0.01);
      assert.equal(result.outcome, 'rolled-back');
      assert.equal(
        result.reason,
        `shadow phase (100% copied): mismatch rate ${percent(measured)} (${changed} of ${CALLS} compared copies) > ` +
          `0% at price (${percent(measured)}, ${changed} of ${CALLS} compared three ways); noise: requestId, servedAt`,
      );
      assert.equal(result.shadow!.samples.length, Math.min(changed, 20));
      for (const sample of result.shadow!.samples) {
        assert.deepEqual(
          [sample.fields, sample.noiseFields, sample.reason],
          [
            ['price'],
            ['servedAt', 'requestId'],
            'differs where the baseline agrees: price; noise: servedAt, requestId',
          ],
        );
      }

      // The same figures in stats() and in the Prometheus text of the admin endpoint.
      const stats = rig.split.stats().mirror!;
      assert.deepEqual(
        [stats.mismatched, stats.matched, stats.noise!.noisy, stats.noise!.compared],
        [changed, CALLS - changed, CALLS - changed, CALLS],
      );
      const server = await startAdminServer(rig.split, { port: 0, token: TOKEN });
      t.after(() => server.close());
      const response = await fetch(`${server.url}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: AbortSignal.timeout(5_000),
      });
      const metrics = parsePrometheusText(await response.text());
      const value = (family: string, labels: Record<string, string>) =>
        metrics.get(family)!.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      assert.equal(value('traffic_split_mirror_copies_total', { outcome: 'mismatched' }), changed);
      assert.equal(value('traffic_split_mirror_field_differences', { field: 'price', side: 'regression' }), changed);
      assert.equal(value('traffic_split_mirror_field_differences', { field: 'servedAt', side: 'baseline' }), CALLS);
      assert.deepEqual(
        ['price', 'requestId', 'servedAt'].map((f) => value('traffic_split_mirror_field_noise', { field: f })),
        [0, 1, 1],
      );
      assert.equal(value('traffic_split_mirror_noise_copies', { baseline: 'baseline', outcome: 'compared' }), CALLS);
    },
  );

  it('without the baseline, the same noise fails an identical v2', async (t) => {
    const rig = await noiseRig(t);
    rig.split.setMirror({ subset: 'v2', percent: 100, compare: true });
    for (let i = 0; i < 20; i++) await callEcho(rig.client, { text: `req-${i}` });
    await copiesSettled(rig.split);
    assert.deepEqual([rig.split.stats().mirror!.mismatched, rig.baseline.received.length], [20, 0]);
  });

  it('does not copy a call that went to the baseline subset itself', async (t) => {
    const rig = await noiseRig(t);
    rig.split.setMirror({ subset: 'v2', percent: 100, noise: { subset: 'baseline', decode } });
    await callEcho(rig.client, { text: 'req-1' }, new grpc.Metadata(), rig.split.route({ subset: 'baseline' }));
    await callEcho(rig.client, { text: 'req-2' });
    await copiesSettled(rig.split);
    assert.deepEqual(
      [rig.split.stats().mirror!.sent, rig.v2.received.length, rig.baseline.received.length],
      [1, 1, 2],
    );
  });

  it(
    'holds a slot of maxInFlight until the baseline copy ended too, cancels baseline ' +
      'copies at close(), and counts a copy without a baseline answer two ways',
    async (t) => {
      const hang = new Promise<Answer>(() => undefined);
      const rig = await noiseRig(t, () => hang);
      rig.split.setMirror({
        subset: 'v2',
        percent: 100,
        maxInFlight: 3,
        timeoutMs: 60_000,
        noise: { subset: 'baseline', decode },
      });
      for (let i = 0; i < 5; i++) await callEcho(rig.client, { text: `req-${i}` });
      await eventually(
        () => rig.v2.received.length === 3 && rig.v2.inFlight() === 0 && rig.baseline.received.length === 3,
        () => JSON.stringify(rig.split.stats().mirror),
      );
      const waiting = rig.split.stats().mirror!;
      assert.deepEqual(
        [waiting.sent, waiting.dropped, waiting.inFlight, waiting.completed],
        [3, 2, 3, 0],
        'the copies answered; their baselines hold the slots, and each comparison waits',
      );
      rig.split.close();
      await copiesSettled(rig.split);
      const mirror = rig.split.stats().mirror!;
      assert.deepEqual(
        [mirror.completed, mirror.mismatched, mirror.noise!.withoutBaseline, mirror.noise!.compared],
        [3, 3, 3, 0],
        'the time stamps count: nothing is known as noise yet',
      );
      assert.deepEqual(mirror.samples[0]!.baseline!.status, 'CANCELLED');
      await eventually(
        () => rig.baseline.inFlight() === 0,
        () => `${rig.baseline.inFlight()} baseline copies in flight`,
      );
    },
  );

  it('refuses a baseline that is the mirror subset, unknown, or serving calls', async (t) => {
    const rig = await noiseRig(t);
    assert.throws(() => rig.split.setMirror({ subset: 'v2', percent: 10, noise: { subset: 'v2' } }), {
      message:
        'mirror.noise.subset: expected a subset other than the mirror subset ' +
        '"v2" (the baseline runs the primaries\' version), got `"v2"` (string)',
    });
    assert.throws(() => rig.split.setMirror({ subset: 'v2', percent: 10, noise: { subset: 'v1' } }), {
      message:
        'mirror.noise.subset: expected a subset at weight 0 (a baseline gets ' +
        'copies only; weights {"v1":100,"v2":0,"baseline":0}), got `"v1"` (string)',
    });
    assert.throws(
      () =>
        startRollout(rig.split, {
          ...shadowRollout(new FakeClock()),
          shadow: { percent: 10, noise: { subset: 'v3' } },
        }),
      { message: 'shadow.noise.subset: expected one of the subsets v1, v2, baseline, got `"v3"` (string)' },
    );
    rig.split.setWeights({ v1: 90, v2: 0, baseline: 10 });
    assert.throws(
      () =>
        startRollout(rig.split, {
          ...shadowRollout(new FakeClock()),
          shadow: { percent: 10, noise: { subset: 'baseline' } },
        }),
      {
        message:
          'shadow.noise.subset: expected a subset at weight 0 (a baseline gets copies ' +
          'only; weights {"v1":90,"v2":0,"baseline":10}), got `"baseline"` (string)',
      },
    );
    assert.equal(rig.split.getMirror(), null);
  });
});

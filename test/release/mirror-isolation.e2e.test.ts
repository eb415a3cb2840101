/**
 * Copies share nothing with the primaries: not the channel's retry throttle, not its retry
 * buffer, not its hedging policy, not its call queue. Each test runs the same primaries without
 * and with the mirror, on the same client, and the primaries must see the same thing: the same
 * failures (none), the same attempts on their server, and not one call more on their channel.
 * Latencies are measured and reported (p50 of each run), not asserted: they are timing figures
 * of a shared machine; the deterministic figures above are what differs when copies and
 * primaries share the channel (39 of 200 primaries fail then, and 30 of 160).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../../src/index.js';
import { startRollout, type RolloutStepPlan } from '../../src/ops/index.js';
import { echoClient, type EchoClientInstance, type EchoRequest } from '../helpers/echo-service.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { within } from '../helpers/load.js';
import {
  channelCallsStarted,
  firstAttempt,
  hangingServerProcess,
  median,
  runCalls,
  scriptedServer,
  type RunResult,
  type ScriptedAnswer,
} from '../helpers/isolation-rig.js';
import { copiesSettled } from '../helpers/mirror-rig.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from '../helpers/split-helpers.js';
import { methodServiceConfig, quickRetryPolicy } from '../helpers/service-config.js';

const RETRY_POLICY = quickRetryPolicy(2);

/** A service config for test.Echo with `method` (a retry or hedging policy), and `extra`. */
const serviceConfig = (method: object, extra: object = {}): string =>
  methodServiceConfig({ service: 'test.Echo' }, method, extra);

const ok = (text: string): ScriptedAnswer => ({ reply: { text } });
const unavailable: ScriptedAnswer = { code: grpc.status.UNAVAILABLE, details: 'v1: first attempt refused' };
const number = (request: EchoRequest): number => Number(/-(\d+)/.exec(request.text ?? '')?.[1]);

/** A target where nothing listens: a subset that is down. */
async function downTarget(): Promise<string> {
  const server = await scriptedServer(() => ok(''));
  server.kill();
  return server.target;
}

/** A split over `v1` and `v2` targets at v1:100 v2:0 and one client with `options`. */
async function splitRig(
  t: Parameters<typeof closeAfter>[0],
  v1: string,
  v2: string,
  options: grpc.ChannelOptions,
  waitFor: string[],
) {
  const split = new TrafficSplit({ subsets: { v1, v2 }, weights: { v1: 100, v2: 0 } });
  const client = echoClient(
    split.target,
    split.withChannelOptions({
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 200,
      ...options,
    }),
  );
  closeAfter(t, client, split);
  connect(client);
  await waitForSubsetsReady(split, waitFor);
  return { split, client };
}

/**
 * 512 KiB requests through a channel whose retry policy retries UNAVAILABLE once: 30 warm-up
 * calls, then a burst of 160 (16 at a time) whose first attempts v1 refuses, without a mirror,
 * then with a 100% mirror of `maxInFlight` onto a v2 that never answers; with `handMade`, also
 * with the test sending each call to v2 on a plain channel. Asserts what the primaries saw is the
 * same in every run (no failure, the same attempts on v1, no copy on the primary channel),
 * reports each run's p50, and returns the mirror's figures once the copies hang on v2.
 */
async function retryBufferRuns(t: TestContext, maxInFlight: number, handMade = false) {
  // grpc-js keeps every request of a call that may still be retried in a buffer of 16 MiB per
  // channel. Copies that never get an answer would hold theirs there until their deadline, and
  // the burst's primaries, each refused once by v1, could no longer be retried.
  const pad = 'x'.repeat(512 * 1024);
  const v1 = await scriptedServer((request, metadata) =>
    request.text!.startsWith('burst') && firstAttempt(metadata) ? unavailable : ok('v1'),
  );
  // In a process of its own: the copies' cost to this client is sending them, not a server
  // decoding 512 KiB per copy on the event loop of the primaries.
  const v2 = await hangingServerProcess();
  closeAfter(t, v1, v2);
  const { split, client } = await splitRig(
    t,
    v1.target,
    v2.target,
    { 'grpc.service_config': serviceConfig({ retryPolicy: RETRY_POLICY }) },
    ['v1', 'v2'],
  );
  const runs: { name: string; result: RunResult; attempts: number; calls: number }[] = [];
  const run = async (name: string, through = client): Promise<void> => {
    const [attemptsBefore, callsBeforeRun] = [v1.attempts(), await channelCallsStarted(client)];
    const warm = await runCalls(through, 30, (i) => ({ text: `warm-${i}:${pad}` }));
    assert.deepEqual(warm.failures, []);
    const result = await runCalls(through, 160, (i) => ({ text: `burst-${i}:${pad}` }), 16);
    const calls = (await channelCallsStarted(client)) - callsBeforeRun;
    runs.push({ name, result, attempts: v1.attempts() - attemptsBefore, calls });
  };

  await run('without mirror');
  split.setMirror({ subset: 'v2', percent: 100, maxInFlight, timeoutMs: 60_000, maxBufferedBytes: 1024 ** 3 });
  await run('with mirror');
  const copies = Math.min(maxInFlight, 190);
  await eventually(
    () => v2.held() === copies,
    () => `${v2.held()} copies hung on v2`,
    10_000,
  );
  const mirror = split.stats().mirror!;
  t.diagnostic(`copies: ${JSON.stringify({ sent: mirror.sent, inFlight: mirror.inFlight, dropped: mirror.dropped })}`);

  if (handMade) {
    // The floor of copies made in this process: the test itself sends each call to v2 too.
    split.setMirror(null);
    const plainV2 = echoClient(v2.target);
    closeAfter(t, plainV2);
    const handMadeCopies: grpc.ClientUnaryCall[] = [];
    const copyOf = (request: EchoRequest): void =>
      void handMadeCopies.push(
        plainV2.echo(request, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, () => {}),
      );
    const withHandMadeCopies = {
      echo: (request: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, done: () => void) => {
        const call = client.echo(request, metadata, options, done);
        setImmediate(copyOf, request);
        return call;
      },
    } as unknown as EchoClientInstance;
    await run('with hand-made copies', withHandMadeCopies);
    await eventually(
      () => v2.held() === copies + 190,
      () => `${v2.held()} calls hung on v2`,
      10_000,
    );
    for (const call of handMadeCopies) call.cancel();
    await eventually(
      () => v2.held() === copies,
      () => `${v2.held()} calls hung on v2 after the hand-made copies were cancelled`,
      10_000,
    );
  }
  for (const { name, result, attempts, calls } of runs) {
    t.diagnostic(describeRun(name, result, attempts, calls));
    assert.deepEqual(result.failures, [], `${name}: no primary lost its retry`);
    assert.equal(attempts, 350, `${name}: 190 first attempts and 160 retries`);
    assert.equal(calls, 190, `${name}: no copy on the primary channel`);
  }
  return { mirror, v2 };
}

function describeRun(name: string, run: RunResult, attempts: number, calls: number): string {
  return (
    `${name}: ${run.failures.length} failed, p50 ${median(run.latenciesMs).toFixed(2)} ` +
    `ms, ${attempts} attempts on v1, ${calls} calls on the primary channel`
  );
}

describe('copies share nothing with the primaries', () => {
  it(
    "spend none of the channel's retry tokens: a mirror subset " +
      'that is down fails every copy, and 0 of 200 primaries',
    async (t) => {
      // v1 refuses the first attempt of every 5th call; the channel retries it (2 attempts) under a
      // throttle of 10 tokens. Copies to a subset that is down fail: on the primary's channel each
      // would spend tokens until the primaries' own retries are refused.
      const v1 = await scriptedServer((request, metadata) =>
        number(request) % 5 === 0 && firstAttempt(metadata) ? unavailable : ok('v1'),
      );
      closeAfter(t, v1);
      const config = serviceConfig(
        { retryPolicy: RETRY_POLICY },
        { retryThrottling: { maxTokens: 10, tokenRatio: 1 } },
      );
      const { split, client } = await splitRig(t, v1.target, await downTarget(), { 'grpc.service_config': config }, [
        'v1',
      ]);
      const request = (i: number): EchoRequest => ({ text: `req-${i}` });

      const callsBefore = await channelCallsStarted(client);
      const without = await runCalls(client, 200, request);
      const [attemptsWithout, callsWithout] = [v1.attempts(), (await channelCallsStarted(client)) - callsBefore];
      split.setMirror({ subset: 'v2', percent: 100 });
      const mirrored = await runCalls(client, 200, request);
      const [attemptsWith, callsWith] = [
        v1.attempts() - attemptsWithout,
        (await channelCallsStarted(client)) - callsBefore - callsWithout,
      ];
      await copiesSettled(split);
      const mirror = split.stats().mirror!;
      t.diagnostic(describeRun('without mirror', without, attemptsWithout, callsWithout));
      t.diagnostic(describeRun('with mirror', mirrored, attemptsWith, callsWith));
      t.diagnostic(`copies: ${JSON.stringify({ sent: mirror.sent, failed: mirror.failed, codes: mirror.codes })}`);

      assert.deepEqual(without.failures, []);
      assert.deepEqual(mirrored.failures, [], 'no primary lost its retry to the copies');
      assert.deepEqual([attemptsWithout, attemptsWith], [240, 240], 'each run: 200 first attempts and 40 retries');
      assert.deepEqual([callsWithout, callsWith], [200, 200], 'no copy on the primary channel');
      assert.deepEqual([mirror.sent, mirror.failed, mirror.codes], [200, 200, { UNAVAILABLE: 200 }]);
    },
  );

  it(
    "fill none of the channel's retry buffer: 30 copies hung with " +
      '512 KiB each, and 0 of 160 primaries fail in the next burst',
    async (t) => {
      // The attack's shape: the warm-up's 30 copies hang (15.7 MB, what a shared 16 MiB buffer
      // could not hold beside the burst's own requests); the burst's copies find no free slot.
      const { mirror, v2 } = await retryBufferRuns(t, 30);
      assert.equal(v2.held(), 30);
      assert.deepEqual([mirror.sent, mirror.inFlight, mirror.droppedBy.maxInFlight], [30, 30, 160]);
    },
  );

  it(
    "fill none of the channel's retry buffer when every call is copied: 190 copies hung with " +
      '512 KiB each, and 0 of 160 primaries fail',
    async (t) => {
      // No bound of the mirror's own in the way: every copy hangs. Each request is sent twice, and
      // the hand-made copies of the same calls on a plain channel show what that costs by itself.
      const { mirror, v2 } = await retryBufferRuns(t, 1_000, true);
      assert.equal(v2.held(), 190);
      assert.deepEqual([mirror.sent, mirror.inFlight, mirror.dropped], [190, 190, 0]);
    },
  );

  it(
    'are never hedged: under a hedging policy every copy ' +
      'succeeds, and the shadow phase passes an identical version',
    async (t) => {
      // Both versions answer after 30 ms, so every call is hedged (a second attempt at once).
      const answer = (request: EchoRequest): Promise<ScriptedAnswer> =>
        new Promise((resolve) => setTimeout(() => resolve(ok(request.text!)), 30));
      const v1 = await scriptedServer(answer);
      const v2 = await scriptedServer(answer);
      closeAfter(t, v1, v2);
      const hedging = { hedgingPolicy: { maxAttempts: 2, hedgingDelay: '0s', nonFatalStatusCodes: ['UNAVAILABLE'] } };
      const { split, client } = await splitRig(
        t,
        v1.target,
        v2.target,
        { 'grpc.service_config': serviceConfig(hedging) },
        ['v1', 'v2'],
      );
      const request = (i: number): EchoRequest => ({ text: `req-${i}` });

      const callsBefore = await channelCallsStarted(client);
      const without = await runCalls(client, 40, request);
      const [attemptsWithout, callsWithout] = [v1.attempts(), (await channelCallsStarted(client)) - callsBefore];
      const clock = new FakeClock();
      const rollout = startRollout(split, {
        subset: 'v2',
        steps: [10, 50],
        intervalMs: 500,
        analysis: { maxErrorRate: 0.01, minCalls: 1 },
        shadow: { percent: 50, intervalMs: 1_000, minCalls: 20 },
        clock,
      });
      t.after(() => rollout.abort('test done'));
      const mirrored = await runCalls(client, 40, request);
      const [attemptsWith, callsWith] = [
        v1.attempts() - attemptsWithout,
        (await channelCallsStarted(client)) - callsBefore - callsWithout,
      ];
      await copiesSettled(split);
      const mirror = split.stats().mirror!;
      // The verdict: the first step (pass) or the end of the rollout (fail).
      const judged = Promise.race([once(rollout, 'step') as Promise<[RolloutStepPlan]>, rollout.done]);
      clock.advance(1_000);
      await within(judged, 10_000, () => JSON.stringify(rollout.toJSON()));
      const shadow = rollout.toJSON().shadow!;
      t.diagnostic(describeRun('without mirror', without, attemptsWithout, callsWithout));
      t.diagnostic(describeRun('with mirror', mirrored, attemptsWith, callsWith));
      t.diagnostic(
        `copies: ${JSON.stringify({ sent: mirror.sent, matched: mirror.matched, failed: mirror.failed, codes: mirror.codes })}; shadow ${shadow.verdict}: ${shadow.reason}`,
      );

      assert.deepEqual([without.failures, mirrored.failures], [[], []]);
      assert.deepEqual([attemptsWithout, attemptsWith], [80, 80], 'each run: every call hedged on v1');
      assert.deepEqual([callsWithout, callsWith], [40, 40], 'no copy on the primary channel');
      assert.deepEqual([mirror.sent, mirror.matched, mirror.failed], [20, 20, 0]);
      assert.equal(v2.attempts(), 20, 'one attempt per copy: copies are never hedged');
      assert.deepEqual(
        [shadow.verdict, shadow.reason],
        ['pass', 'mismatch rate 0% (0 of 20 compared copies) <= 0%; failure rate 0% (0 of 20 copies) <= 1%'],
      );
    },
  );
});

/**
 * Which attempt a stream's figures are credited to, driven through the split's pipeline with a
 * fake next call (as call-answers.test.ts does): the test plays the picker and grpc-js's attempt
 * hooks. A stream retried before its first message counts its failed attempt where it ran, with
 * no message, and its messages on the subset of the attempt that delivered them; the feed tells
 * both attempts, as `finished` counts them. And the figures of a table made before its first
 * stream, and of a mark taken then.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { contextOf } from '../src/policy/call/call-context.js';
import { CallFeed, type CallEnded } from '../src/policy/call/call-feed.js';
import { SubsetCounters } from '../src/policy/call/counters.js';
import { testPipeline } from './helpers/call-context.js';
import { fakeNextCall, recordingListener } from './helpers/fake-call.js';

const { PickResultType } = grpc.experimental;
const SERVER_STREAMING = {
  path: '/test.Echo/Stream',
  requestStream: false,
  responseStream: true,
} as grpc.InterceptorOptions['method_definition'];

/** One streaming call through the split's pipeline over `counters`. */
function streamingCall(counters: SubsetCounters) {
  const { nextCall, attempts } = fakeNextCall('direct');
  const { listener } = recordingListener();
  const owner = { token: 'token', splitName: 'split', target: 'target', retryOnOtherSubset: false };
  testPipeline(owner, counters)({ method_definition: SERVER_STREAMING }, nextCall).start(
    new grpc.Metadata(),
    listener,
  );
  const fake = attempts[0]!;
  /** The picker's part: an attempt of this call on `subset`, started; returns its end hook. */
  const attempt = (subset: number): ((code: grpc.status) => void) => {
    const result = counters.attach(
      subset,
      {
        pickResultType: PickResultType.COMPLETE,
        subchannel: null,
        status: null,
        onCallStarted: null,
        onCallEnded: null,
      },
      contextOf(fake.metadata!),
    );
    result.onCallStarted!();
    return (code) => result.onCallEnded!(code, grpc.status[code]!, new grpc.Metadata());
  };
  return { fake, attempt };
}

const total = (histogram: [number, number][]) => histogram.reduce((n, [, count]) => n + count, 0);

describe('stream figures by attempt', () => {
  it('credit a stream retried before its first message: the failure where it ran, the messages where they came from', () => {
    const counters = new SubsetCounters(2);
    const told: CallEnded[] = [];
    new CallFeed(counters, ['v1', 'v2']).add((call) => told.push(call));
    const { fake, attempt } = streamingCall(counters);
    attempt(0)(grpc.status.UNAVAILABLE);
    const end = attempt(1);
    fake.headers();
    for (let i = 0; i < 3; i++) fake.message({ index: i });
    end(grpc.status.OK);
    fake.status(grpc.status.OK, 'OK');

    const [v1, v2] = [counters.figures(0, null), counters.figures(1, null)];
    assert.deepEqual(
      [v1.streams.finished, [...v1.streams.codesAfterFirstMessage], total(v1.streams.firstMessageHistogram)],
      [1, [], 0],
    );
    assert.deepEqual(
      [
        v2.streams.finished,
        [...v2.streams.codesAfterFirstMessage],
        total(v2.streams.firstMessageHistogram),
        total(v2.streams.gapHistogram),
      ],
      [1, [[grpc.status.OK, 1]], 1, 2],
    );
    assert.deepEqual([total(v1.unaryLatencyHistogram), total(v2.unaryLatencyHistogram)], [0, 0]);
    assert.deepEqual(
      told.map((c) => [c.subset, c.method, c.code, c.streaming, c.latencyMs, c.messages, c.firstMessageMs === null]),
      [
        ['v1', '/test.Echo/Stream', grpc.status.UNAVAILABLE, true, null, 0, true],
        ['v2', '/test.Echo/Stream', grpc.status.OK, true, null, 3, false],
      ],
    );
    const [, answered] = told;
    assert.ok(answered!.firstMessageMs! <= answered!.durationMs, JSON.stringify(answered));
    assert.ok(answered!.meanGapMs! <= answered!.maxGapMs!, JSON.stringify(answered));
  });

  it('are zero in a table without streams and in a mark taken before its first stream', () => {
    const counters = new SubsetCounters(1);
    const mark = counters.mark();
    assert.equal(mark.streams, null, 'nothing made for streams before the first');
    const { fake, attempt } = streamingCall(counters);
    const end = attempt(0);
    fake.message({});
    end(grpc.status.OK);
    fake.status(grpc.status.OK, 'OK');
    const since = counters.figures(0, mark).streams;
    assert.deepEqual(
      [since.finished, [...since.codesAfterFirstMessage], total(since.firstMessageHistogram)],
      [1, [[grpc.status.OK, 1]], 1],
    );
    assert.deepEqual(counters.figures(0, counters.mark()).streams.finished, 0);
  });
});

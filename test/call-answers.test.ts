/**
 * Counting each call's committed attempt with the status the application gets (call-tracking.ts
 * `CallAnswers`), driven through a fake next call: the test plays the picker (it attaches each
 * attempt to the counters with the call's record, as picker.ts does), grpc-js's attempt hooks
 * (`onCallStarted`, `onCallEnded`, which grpc-js calls before the call's status climbs to the
 * interceptors) and the events that reach the split's interceptor. The orders played here are the
 * ones grpc-js 1.14 produces, including those only a race produces on a real channel (an attempt
 * that ended OK on the wire while its message was still being decompressed, or cancelled).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { applicationStatusCode } from '../src/policy/call/call-tracking.js';
import { contextOf } from '../src/policy/call/call-context.js';
import { SubsetCounters } from '../src/policy/call/counters.js';
import { testPipeline } from './helpers/call-context.js';
import { fakeNextCall, recordingListener } from './helpers/fake-call.js';

const { PickResultType } = grpc.experimental;
const UNARY = {
  path: '/test.Echo/Echo',
  requestStream: false,
  responseStream: false,
} as grpc.InterceptorOptions['method_definition'];
const SERVER_STREAMING = { ...UNARY, responseStream: true } as grpc.InterceptorOptions['method_definition'];
const trailers = new grpc.Metadata();

/** One call through the split's pipeline over `counters` (no telemetry, mirror or retry). */
function trackedCall(counters: SubsetCounters, method = UNARY) {
  const { nextCall, attempts } = fakeNextCall('direct');
  const { listener, events } = recordingListener();
  const owner = { token: 'token', splitName: 'split', target: 'target', retryOnOtherSubset: false };
  const call = testPipeline(owner, counters)({ method_definition: method }, nextCall);
  call.start(new grpc.Metadata(), listener);
  const fake = attempts[0]!;
  /** The picker's part: an attempt of this call on `subset`, started; returns its end hook. */
  const attempt = (subset: number): ((code: grpc.status, details: string) => void) => {
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
    return (code, details) => result.onCallEnded!(code, details, trailers);
  };
  return { call, fake, attempt, events };
}

/** Codes counted on `subset`, by name. */
function codes(counters: SubsetCounters, subset: number): Record<string, number> {
  return Object.fromEntries([...counters.figures(subset, null).codes].map(([code, n]) => [grpc.status[code], n]));
}

describe('applicationStatusCode', () => {
  it('is UNIMPLEMENTED for an OK call with a unary response and no message, the code itself otherwise', () => {
    assert.equal(applicationStatusCode(false, grpc.status.OK, true), grpc.status.UNIMPLEMENTED);
    assert.equal(applicationStatusCode(false, grpc.status.OK, false), grpc.status.OK);
    assert.equal(applicationStatusCode(true, grpc.status.OK, true), grpc.status.OK);
    assert.equal(applicationStatusCode(false, grpc.status.INTERNAL, true), grpc.status.INTERNAL);
  });
});

describe('counting the status the application gets', () => {
  it('counts a unary call answered OK without a message as UNIMPLEMENTED, once its status reaches the interceptor', () => {
    const counters = new SubsetCounters(2);
    const { fake, attempt, events } = trackedCall(counters);
    attempt(1)(grpc.status.OK, 'OK');
    // Ended on the wire, not yet seen by the application: held, in flight.
    assert.deepEqual([counters.figures(1, null).finished, counters.inFlight(1)], [0, 1]);
    fake.message(null);
    fake.status(grpc.status.OK, 'OK');
    assert.deepEqual(
      events,
      ['message:null', 'status:OK OK'],
      'the status itself passes unchanged (the Client makes it UNIMPLEMENTED)',
    );
    assert.deepEqual(codes(counters, 1), { UNIMPLEMENTED: 1 });
    assert.deepEqual([counters.figures(1, null).finished, counters.inFlight(1)], [1, 0]);
  });

  it('keeps OK for a unary call with a message, and for a streaming response without one', () => {
    const counters = new SubsetCounters(1);
    const unary = trackedCall(counters);
    unary.attempt(0)(grpc.status.OK, 'OK');
    unary.fake.headers();
    unary.fake.message({ server: 'v1' });
    unary.fake.status(grpc.status.OK, 'OK');
    const stream = trackedCall(counters, SERVER_STREAMING);
    stream.attempt(0)(grpc.status.OK, 'OK');
    stream.fake.status(grpc.status.OK, 'OK');
    assert.deepEqual(codes(counters, 0), { OK: 2 });
  });

  it(
    'counts the status the application gets when an attempt that ended ' +
      'OK on the wire is failed above it (an undecodable message, a cancel)',
    () => {
      const counters = new SubsetCounters(1);
      // The message was still being decompressed when the attempt ended; it then failed to decode.
      const undecodable = trackedCall(counters);
      undecodable.attempt(0)(grpc.status.OK, 'OK');
      undecodable.fake.headers();
      undecodable.fake.message(null);
      undecodable.fake.status(grpc.status.INTERNAL, 'Response message parsing error: bad');
      // The application cancelled between the attempt's end and its status.
      const cancelled = trackedCall(counters, SERVER_STREAMING);
      cancelled.attempt(0)(grpc.status.OK, 'OK');
      cancelled.fake.status(grpc.status.CANCELLED, 'Cancelled on client');
      assert.deepEqual(codes(counters, 0), { INTERNAL: 1, CANCELLED: 1 });
    },
  );

  it('counts a committed attempt (it had headers) that failed with the status the application gets', () => {
    const counters = new SubsetCounters(1);
    const { fake, attempt } = trackedCall(counters, SERVER_STREAMING);
    attempt(0)(grpc.status.ABORTED, 'server gave up');
    fake.headers();
    fake.status(grpc.status.INTERNAL, 'Response message parsing error: bad');
    assert.deepEqual(codes(counters, 0), { INTERNAL: 1 });
  });

  it('counts a retried attempt where it ran, with its own status, as soon as the next attempt starts', () => {
    const counters = new SubsetCounters(2);
    const { fake, attempt } = trackedCall(counters);
    attempt(0)(grpc.status.UNAVAILABLE, 'connection dropped');
    assert.deepEqual(codes(counters, 0), {}, 'held: it may still be the committed attempt');
    const second = attempt(1);
    assert.deepEqual(codes(counters, 0), { UNAVAILABLE: 1 }, 'a later attempt started: it was not');
    second(grpc.status.OK, 'OK');
    fake.headers();
    fake.message({ server: 'v2' });
    fake.status(grpc.status.OK, 'OK');
    assert.deepEqual([codes(counters, 0), codes(counters, 1)], [{ UNAVAILABLE: 1 }, { OK: 1 }]);
  });

  it(
    'keeps the own status of an unanswered failed attempt when the ' +
      'call ends between attempts (its deadline while a retry waited)',
    () => {
      const counters = new SubsetCounters(1);
      const { fake, attempt } = trackedCall(counters);
      attempt(0)(grpc.status.UNAVAILABLE, 'connection dropped');
      fake.message(null);
      fake.status(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded');
      assert.deepEqual(codes(counters, 0), { UNAVAILABLE: 1 });
      assert.deepEqual([...counters.splitNotStarted(null)], [], 'an attempt started: not a call that never started');
    },
  );

  it("counts an attempt that ends after its call's status at once, with its own status", () => {
    const counters = new SubsetCounters(1);
    const { fake, attempt } = trackedCall(counters, SERVER_STREAMING);
    const end = attempt(0);
    fake.status(grpc.status.CANCELLED, 'Cancelled on client');
    end(grpc.status.CANCELLED, 'Cancelled on client');
    assert.deepEqual(codes(counters, 0), { CANCELLED: 1 });
    assert.equal(counters.inFlight(0), 0);
  });

  it("tells the counters' finish listener (OpenTelemetry) the status the application gets, once", () => {
    const counters = new SubsetCounters(1);
    const told: string[] = [];
    counters.finishObserver = (subset, code) => told.push(`${subset} ${grpc.status[code]}`);
    const { fake, attempt } = trackedCall(counters);
    attempt(0)(grpc.status.OK, 'OK');
    assert.deepEqual(told, []);
    fake.message(null);
    fake.status(grpc.status.OK, 'OK');
    assert.deepEqual(told, ['0 UNIMPLEMENTED']);
  });
});

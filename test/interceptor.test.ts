/**
 * The split's pipeline and its retry on another subset (call-pipeline.ts, retry-other-subset.ts), driven
 * through a fake next call: which attempts it makes and what the caller sees, phase by phase. Every case runs
 * with the interceptor's listener called directly and wrapped (with a `next`), the two ways grpc-js may call
 * it, and must behave alike.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { routeOptions, type InterceptorContext } from '../src/policy/call/route-options.js';
import { SubsetCounters } from '../src/policy/call/counters.js';
import { testPipeline } from './helpers/call-context.js';
import { fakeNextCall, recordingListener, type ListenerMode } from './helpers/fake-call.js';

const context: InterceptorContext = {
  token: 'token',
  splitName: 'split',
  target: 'ipv4:127.0.0.1:1',
  retryOnOtherSubset: true,
};
const UNARY = {
  path: '/echo.Echo/Say',
  requestStream: false,
  responseStream: false,
} as grpc.InterceptorOptions['method_definition'];
const STREAMING = { ...UNARY, responseStream: true } as grpc.InterceptorOptions['method_definition'];

/** Starts one unary call through the interceptor: metadata, one message, half-close. */
function unaryCall(mode: ListenerMode, extra: grpc.CallOptions = {}, method = UNARY) {
  const { nextCall, attempts } = fakeNextCall(mode);
  const { listener, events } = recordingListener();
  const call = testPipeline(context, new SubsetCounters(2))({ ...extra, method_definition: method }, nextCall);
  call.start(new grpc.Metadata(), listener);
  call.sendMessage('hello');
  call.halfClose();
  return { call, attempts, events };
}

for (const mode of ['direct', 'wrapped'] as const) {
  describe(`interceptor (listener called ${mode})`, () => {
    it(
      'FirstAttempt -> Retrying -> Done: an unanswered UNAVAILABLE is retried ' +
        'once, away from the first subset; the caller sees only the retry',
      () => {
        const { attempts, events } = unaryCall(mode);
        assert.equal(attempts.length, 1);
        const first = attempts[0]!.pickedSubset(1);
        first.headers();
        first.message(null);
        first.status(grpc.status.UNAVAILABLE, 'first failed');
        assert.deepEqual(events, []);
        assert.equal(attempts.length, 2);
        const second = attempts[1]!;
        assert.deepEqual([second.sent, second.halfClosed, second.context.avoid], [['hello'], true, 1]);
        second.pickedSubset(0);
        second.headers();
        second.message('reply');
        second.status(grpc.status.OK, 'ok');
        assert.deepEqual(events, ['headers', 'message:reply', 'status:OK ok']);
        assert.equal(first.nextCalls + second.nextCalls, 0);
      },
    );

    it('FirstAttempt -> Answered: an UNAVAILABLE after a message reaches the caller as is, without a retry', () => {
      const { attempts, events } = unaryCall(mode);
      const first = attempts[0]!.pickedSubset(0);
      first.headers();
      first.message('partial');
      first.status(grpc.status.UNAVAILABLE, 'late failure');
      assert.deepEqual(events, ['headers', 'message:partial', 'status:UNAVAILABLE late failure']);
      assert.equal(attempts.length, 1);
    });

    it("gives the caller the first attempt's held headers and failure when no other subset can take the retry", () => {
      const { attempts, events } = unaryCall(mode);
      const first = attempts[0]!.pickedSubset(0);
      first.headers();
      first.status(grpc.status.UNAVAILABLE, 'first failed');
      const second = attempts[1]!;
      second.context.noOtherSubset = true;
      second.status(grpc.status.UNAVAILABLE, 'traffic_split: no other READY weighted subset to retry on');
      assert.deepEqual(events, ['headers', 'status:UNAVAILABLE first failed']);
    });

    it('releases the held headers and empty message, in order, when the first attempt ends the call', () => {
      const { attempts, events } = unaryCall(mode);
      const first = attempts[0]!.pickedSubset(0, true);
      first.headers();
      first.message(null);
      first.status(grpc.status.UNAVAILABLE, 'strict route failed');
      assert.deepEqual(events, ['headers', 'message:null', 'status:UNAVAILABLE strict route failed']);
    });

    it('does not retry a failure other than UNAVAILABLE, an attempt routed strictly, nor one never picked', () => {
      for (const [subset, strict, code] of [
        [0, false, grpc.status.INTERNAL],
        [0, true, grpc.status.UNAVAILABLE],
        [-1, false, grpc.status.UNAVAILABLE],
      ] as const) {
        const { attempts, events } = unaryCall(mode);
        attempts[0]!.pickedSubset(subset, strict);
        attempts[0]!.status(code, 'failed');
        assert.deepEqual([attempts.length, events], [1, [`status:${grpc.status[code]} failed`]]);
      }
    });

    it('does not retry a cancelled call, and cancels a retry in flight', () => {
      const cancelledFirst = unaryCall(mode);
      cancelledFirst.attempts[0]!.pickedSubset(0);
      cancelledFirst.call.cancelWithStatus(grpc.status.CANCELLED, 'Cancelled on client');
      cancelledFirst.attempts[0]!.status(grpc.status.UNAVAILABLE, 'failed');
      assert.deepEqual([cancelledFirst.attempts.length, cancelledFirst.events], [1, ['status:UNAVAILABLE failed']]);

      const cancelledRetry = unaryCall(mode);
      cancelledRetry.attempts[0]!.pickedSubset(0).status(grpc.status.UNAVAILABLE, 'failed');
      cancelledRetry.call.cancelWithStatus(grpc.status.CANCELLED, 'Cancelled on client');
      assert.deepEqual(
        cancelledRetry.attempts.map((a) => a.cancelled),
        ['Cancelled on client', 'Cancelled on client'],
      );
    });
  });
}

describe('interceptor without retries', () => {
  it('gives a streaming call a context with its stream record and no retry marks', () => {
    const { attempts } = unaryCall('direct', {}, STREAMING);
    const attached = attempts[0]!.context;
    assert.deepEqual(
      [attached.retry, attached.intercepted, attached.stream !== null, attached.routed],
      [false, true, true, false],
    );
    const unary = unaryCall('direct').attempts[0]!.context;
    assert.deepEqual([unary.retry, unary.stream], [true, null]);
  });

  it("attaches a route's context, marked intercepted, and passes the caller's listener through", () => {
    const { attempts, events } = unaryCall('direct', routeOptions(context, { subset: 'v2' }));
    const attached = attempts[0]!.context;
    assert.deepEqual(
      [attached.subset, attached.intercepted, attached.retry, attached.pickedSubset],
      ['v2', true, false, -1],
    );
    attempts[0]!.status(grpc.status.UNAVAILABLE, 'down');
    assert.deepEqual([attempts.length, events], [1, ['status:UNAVAILABLE down']]);
  });
});

/**
 * A weighted subset that is connecting keeps its share for its connect grace (aggregate-state.ts,
 * picker.ts): the calls the schedule gives it queue and, picked again once it is READY, go to
 * it; one in TRANSIENT_FAILURE, or past its grace, gives its share to the READY subsets.
 * Fake subsets and call records: no sockets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { aggregateState, type SubsetView } from '../src/policy/balancer/aggregate-state.js';
import { SplitState } from '../src/policy/balancer/split-state.js';
import type { CallContext } from '../src/policy/call/call-context.js';
import { metadataWith, newRecord } from './helpers/call-context.js';
import { completingPicker, picksFrom, tally } from './helpers/fake-child-policy.js';
import { routingOf } from './helpers/routing-table.js';

const { READY, CONNECTING, IDLE, TRANSIENT_FAILURE } = grpc.connectivityState;
const queue = new grpc.experimental.QueuePicker({ exitIdle() {} } as unknown as grpc.experimental.LoadBalancer);

function subset(name: string, state: grpc.connectivityState, inGrace = false): SubsetView {
  return { name, state, picker: state === READY ? completingPicker(name) : queue, lastError: null, inGrace };
}

/** One call as the split's interceptor makes it: metadata carrying a fresh call record. */
function call(): { record: CallContext; metadata: () => grpc.Metadata } {
  const record: CallContext = newRecord(false);
  const base = metadataWith(record);
  // grpc-js picks a clone each time; the options (and so the record) are shared.
  return { record, metadata: () => base.clone() };
}

function pickOnce(picker: grpc.experimental.Picker, c: ReturnType<typeof call>): string {
  return picksFrom(picker, 1, c.metadata)[0]!;
}

describe('connect grace', () => {
  it('queues the calls scheduled for a subset in grace, and sends exactly those to it once READY', () => {
    const state = new SplitState('split', ['v1', 'v2'], [50, 50], undefined, 3);
    const connecting = aggregateState([subset('v1', READY), subset('v2', CONNECTING, true)], state, false, null);
    assert.equal(grpc.connectivityState[connecting.state], 'READY');
    const calls = Array.from({ length: 100 }, call);
    const first = calls.map((c) => pickOnce(connecting.picker, c));
    assert.deepEqual(tally(first), { v1: 50, QUEUE: 50 });
    // v2 is READY: the queued calls are picked again, each by a new picker, and all go to v2.
    const ready = aggregateState([subset('v1', READY), subset('v2', READY)], state, false, null);
    const again = calls.filter((_, i) => first[i] === 'QUEUE').map((c) => pickOnce(ready.picker, c));
    assert.deepEqual(tally(again), { v2: 50 });
    // Nothing was drawn twice: the next 100 calls split 50/50 as well.
    assert.deepEqual(tally(picksFrom(ready.picker, 100)), { v1: 50, v2: 50 });
  });

  it('keeps the place of a queued call through pickers built while the subset is still connecting', () => {
    const state = new SplitState('split', ['v1', 'v2'], [90, 10], undefined, 5);
    const views = [subset('v1', READY), subset('v2', IDLE, true)];
    const calls = Array.from({ length: 100 }, call);
    const first = calls.map((c) => pickOnce(aggregateState(views, state, false, null).picker, c));
    assert.deepEqual(tally(first), { v1: 90, QUEUE: 10 });
    const waiting = calls.filter((_, i) => first[i] === 'QUEUE');
    for (let round = 0; round < 3; round++) {
      const picker = aggregateState([subset('v1', READY), subset('v2', CONNECTING, true)], state, false, null).picker;
      assert.deepEqual(
        waiting.map((c) => pickOnce(picker, c)),
        Array(10).fill('QUEUE'),
      );
    }
    const ready = aggregateState([subset('v1', READY), subset('v2', READY)], state, false, null).picker;
    assert.deepEqual(
      waiting.map((c) => pickOnce(ready, c)),
      Array(10).fill('v2'),
    );
  });

  it('moves the waiting calls to the READY subsets when the grace ends or the subset fails', () => {
    for (const gone of [subset('v2', CONNECTING, false), subset('v2', TRANSIENT_FAILURE)]) {
      const state = new SplitState('split', ['v1', 'v2'], [50, 50], undefined, 11);
      const calls = Array.from({ length: 40 }, call);
      const first = calls.map((c) =>
        pickOnce(aggregateState([subset('v1', READY), subset('v2', CONNECTING, true)], state, false, null).picker, c),
      );
      assert.deepEqual(tally(first), { v1: 20, QUEUE: 20 });
      const after = aggregateState([subset('v1', READY), gone], state, false, null).picker;
      assert.deepEqual(tally(calls.filter((_, i) => first[i] === 'QUEUE').map((c) => pickOnce(after, c))), { v1: 20 });
      // Without grace every new call goes to v1.
      assert.deepEqual(tally(picksFrom(after, 30)), { v1: 30 });
    }
  });

  it(
    'gives a connecting subset nothing without grace (connectGraceMs ' +
      '0 or after a failure): the READY ones take every call',
    () => {
      const state = new SplitState('split', ['v1', 'v2'], [50, 50], undefined, 13);
      const picker = aggregateState([subset('v1', READY), subset('v2', CONNECTING, false)], state, false, null).picker;
      assert.deepEqual(tally(picksFrom(picker, 20)), { v1: 20 });
    },
  );

  it('queues every call without drawing from the schedule while no weighted subset is READY', () => {
    const state = new SplitState('split', ['v1', 'v2'], [50, 50], undefined, 17);
    const calls = Array.from({ length: 10 }, call);
    const connecting = aggregateState(
      [subset('v1', CONNECTING, true), subset('v2', CONNECTING, true)],
      state,
      false,
      null,
    );
    assert.equal(grpc.connectivityState[connecting.state], 'CONNECTING');
    assert.deepEqual(
      calls.map((c) => pickOnce(connecting.picker, c)),
      Array(10).fill('QUEUE'),
    );
    assert.deepEqual(
      calls.map((c) => c.record.waitingFor),
      Array(10).fill(-1),
    );
  });

  it('lets a sticky key wait for its subset in grace rather than move it', () => {
    const state = new SplitState('split', ['v1', 'v2'], [50, 50], undefined, 19);
    const routing = routingOf(state, 'x-user');
    const keyed = (key: string) => () => withKey(key);
    const withKey = (key: string) => {
      const m = new grpc.Metadata();
      m.set('x-user', key);
      return m;
    };
    const bothReady = aggregateState([subset('v1', READY), subset('v2', READY)], state, false, routing).picker;
    const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const home = keys.map((k) => picksFrom(bothReady, 1, keyed(k))[0]);
    const grace = aggregateState([subset('v1', READY), subset('v2', CONNECTING, true)], state, false, routing).picker;
    const during = keys.map((k) => picksFrom(grace, 1, keyed(k))[0]);
    assert.deepEqual(
      during,
      home.map((h) => (h === 'v2' ? 'QUEUE' : h)),
    );
    assert.ok(home.includes('v2') && home.includes('v1'));
  });
});

/**
 * Connect grace against the attempts of one call (adversary review of issue 19): a hedging
 * policy makes a second attempt of a call before the first has started, for instance while the
 * call waits for a subset in its grace. Every attempt of the call shares its one record, so the
 * call must hold one place in the schedule: none of its attempts may draw another one (which
 * would shift the shares, and send a waiting call's hedge elsewhere). Fake subsets: no sockets.
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

const { READY, CONNECTING } = grpc.connectivityState;
const queue = new grpc.experimental.QueuePicker({ exitIdle() {} } as unknown as grpc.experimental.LoadBalancer);

function subset(name: string, state: grpc.connectivityState, inGrace = false): SubsetView {
  return { name, state, picker: state === READY ? completingPicker(name) : queue, lastError: null, inGrace };
}

/** One call as the split's interceptor makes it; every attempt picks a clone of its metadata. */
function call(otherSubset: boolean): { record: CallContext; metadata: () => grpc.Metadata } {
  const record = newRecord(otherSubset);
  const base = metadataWith(record);
  return { record, metadata: () => base.clone() };
}

describe('connect grace and the attempts of one call', () => {
  for (const retryOnOtherSubset of [false, true]) {
    it(
      `gives both attempts of a hedged call one place while it waits ` +
        `for a subset in grace (retryOnOtherSubset ${retryOnOtherSubset})`,
      () => {
        const state = new SplitState('split', ['v1', 'v2'], [50, 50], undefined, 23);
        const routing = retryOnOtherSubset ? routingOf(state) : null;
        const grace = aggregateState(
          [subset('v1', READY), subset('v2', CONNECTING, true)],
          state,
          false,
          routing,
        ).picker;
        const calls = Array.from({ length: 100 }, () => call(retryOnOtherSubset));
        // Attempt 1, then the hedge (attempt 2) before attempt 1 has started: the same place.
        const first = calls.map((c) => picksFrom(grace, 1, c.metadata)[0]!);
        const hedge = calls.map((c) => picksFrom(grace, 1, c.metadata)[0]!);
        assert.deepEqual(tally(first), { v1: 50, QUEUE: 50 });
        assert.deepEqual(hedge, first);
        // v2 is READY: both queued attempts of each waiting call are picked again, and go to v2.
        const ready = aggregateState([subset('v1', READY), subset('v2', READY)], state, false, routing).picker;
        const waiting = calls.filter((_, i) => first[i] === 'QUEUE');
        const again = waiting.flatMap((c) => [
          picksFrom(ready, 1, c.metadata)[0]!,
          picksFrom(ready, 1, c.metadata)[0]!,
        ]);
        assert.deepEqual(tally(again), { v2: 100 });
        // Nothing was drawn twice: the next 100 calls split 50/50.
        assert.deepEqual(tally(picksFrom(ready, 100)), { v1: 50, v2: 50 });
      },
    );
  }
});

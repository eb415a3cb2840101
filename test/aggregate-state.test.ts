/**
 * The channel state a split reports, from its subsets' states and the weights in force
 * (aggregate-state.ts), on fake subsets: no sockets, no child policies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { aggregateState, type SubsetView } from '../src/policy/balancer/aggregate-state.js';
import { SplitState } from '../src/policy/balancer/split-state.js';
import { completingPicker, picksFrom, tally } from './helpers/fake-child-policy.js';

const { READY, CONNECTING, IDLE, TRANSIENT_FAILURE } = grpc.connectivityState;
const queue = new grpc.experimental.QueuePicker({ exitIdle() {} } as unknown as grpc.experimental.LoadBalancer);

/** A subset in `state`; READY ones pick their own name. */
function subset(
  name: string,
  state: grpc.connectivityState,
  lastError: string | null = null,
  inGrace = false,
): SubsetView {
  return { name, state, picker: state === READY ? completingPicker(name) : queue, lastError, inGrace };
}

function split(weights: Record<string, number>): SplitState {
  return new SplitState('split', Object.keys(weights), Object.values(weights), undefined, 1);
}

function stateName(subsets: SubsetView[], weights: Record<string, number>, fallbackToZeroWeight = false): string {
  return grpc.connectivityState[aggregateState(subsets, split(weights), fallbackToZeroWeight, null).state]!;
}

describe('aggregate state', () => {
  it('is READY when one weighted subset is READY, whatever the others are', () => {
    assert.equal(stateName([subset('v1', READY), subset('v2', TRANSIENT_FAILURE)], { v1: 1, v2: 99 }), 'READY');
    assert.equal(stateName([subset('v1', CONNECTING), subset('v2', READY)], { v1: 99, v2: 1 }), 'READY');
  });

  it('is CONNECTING while a weighted subset is CONNECTING or IDLE and none is READY', () => {
    assert.equal(
      stateName([subset('v1', CONNECTING), subset('v2', TRANSIENT_FAILURE)], { v1: 50, v2: 50 }),
      'CONNECTING',
    );
    assert.equal(stateName([subset('v1', TRANSIENT_FAILURE), subset('v2', IDLE)], { v1: 50, v2: 50 }), 'CONNECTING');
  });

  it(
    'is TRANSIENT_FAILURE when every weighted subset has ' +
      'failed, and names each subset, weight, state and last error',
    () => {
      const result = aggregateState(
        [
          subset('v1', TRANSIENT_FAILURE, 'connect ECONNREFUSED'),
          subset('v2', TRANSIENT_FAILURE),
          subset('v3', CONNECTING),
        ],
        split({ v1: 90, v2: 10, v3: 0 }),
        false,
        null,
      );
      const message =
        'traffic_split: no weighted subset is READY; v1 (weight ' +
        '90): TRANSIENT_FAILURE (last error: connect ECONNREFUSED); ' +
        'v2 (weight 10): TRANSIENT_FAILURE; v3 (weight 0): CONNECTING';
      assert.equal(grpc.connectivityState[result.state], 'TRANSIENT_FAILURE');
      assert.equal(result.errorMessage, message);
      assert.deepEqual(picksFrom(result.picker, 2), [
        `TRANSIENT_FAILURE: ${message}`,
        `TRANSIENT_FAILURE: ${message}`,
      ]);
    },
  );

  it('does not count weight-0 subsets: a READY one does not make the split READY, a CONNECTING one not CONNECTING', () => {
    assert.equal(
      stateName([subset('v1', TRANSIENT_FAILURE), subset('v2', READY)], { v1: 100, v2: 0 }),
      'TRANSIENT_FAILURE',
    );
    assert.equal(
      stateName([subset('v1', TRANSIENT_FAILURE), subset('v2', CONNECTING)], { v1: 100, v2: 0 }),
      'TRANSIENT_FAILURE',
    );
    assert.equal(stateName([subset('v1', CONNECTING), subset('v2', READY)], { v1: 100, v2: 0 }), 'CONNECTING');
  });

  it('serves READY weight-0 subsets evenly under fallbackToZeroWeight when no weighted subset is READY', () => {
    const result = aggregateState(
      [subset('v1', TRANSIENT_FAILURE), subset('v2', READY), subset('v3', READY)],
      split({ v1: 100, v2: 0, v3: 0 }),
      true,
      null,
    );
    assert.equal(grpc.connectivityState[result.state], 'READY');
    assert.equal(result.errorMessage, null);
    assert.deepEqual(tally(picksFrom(result.picker, 100)), { v2: 50, v3: 50 });
  });

  it('is TRANSIENT_FAILURE with a DROP picker once the split is closed, READY subsets or not', () => {
    const state = split({ v1: 1 });
    state.close();
    const result = aggregateState([subset('v1', READY)], state, false, null);
    assert.equal(grpc.connectivityState[result.state], 'TRANSIENT_FAILURE');
    assert.equal(result.errorMessage, 'traffic_split: split "split" is closed');
    assert.deepEqual(picksFrom(result.picker, 1), ['DROP: traffic_split: split "split" is closed']);
  });
});

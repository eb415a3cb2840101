/**
 * The split's picker (picker.ts) built by the aggregation from fake subsets: which subset each
 * call goes to, what a call gets when its subset is not READY, and that the child's own pick
 * result passes through.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { aggregateState, type SubsetView } from '../src/policy/balancer/aggregate-state.js';
import { metadataWith, routedTo as routedContext } from './helpers/call-context.js';
import { contextOf, RESERVED_HEADER as HINT_KEY } from '../src/policy/call/call-context.js';
import { SplitState } from '../src/policy/balancer/split-state.js';
import { completingPicker, picksFrom, tally } from './helpers/fake-child-policy.js';
import { routingOf } from './helpers/routing-table.js';

const { READY, CONNECTING, TRANSIENT_FAILURE } = grpc.connectivityState;
const queue = new grpc.experimental.QueuePicker({ exitIdle() {} } as unknown as grpc.experimental.LoadBalancer);

function subset(
  name: string,
  state: grpc.connectivityState,
  lastError: string | null = null,
  inGrace = false,
): SubsetView {
  return { name, state, picker: state === READY ? completingPicker(name) : queue, lastError, inGrace };
}

function split(weights: Record<string, number>): SplitState {
  return new SplitState('split', Object.keys(weights), Object.values(weights), undefined, 7);
}

/** Metadata carrying a route to `subset` of `state`, as the split's pipeline attaches it. */
function routedTo(state: SplitState, subsetName: string): () => grpc.Metadata {
  return () => metadataWith(routedContext({ token: state.token, splitName: state.name }, subsetName));
}

describe('picker', () => {
  it('splits calls by the weights among READY subsets, exactly over whole periods', () => {
    const state = split({ v1: 3, v2: 1 });
    const { picker } = aggregateState([subset('v1', READY), subset('v2', READY)], state, false, null);
    assert.deepEqual(tally(picksFrom(picker, 400)), { v1: 300, v2: 100 });
  });

  it('skips a subset that is not READY and shares its calls among the others by their weights', () => {
    const state = split({ v1: 60, v2: 30, v3: 10 });
    const { picker } = aggregateState(
      [subset('v1', TRANSIENT_FAILURE), subset('v2', READY), subset('v3', READY)],
      state,
      false,
      null,
    );
    assert.deepEqual(tally(picksFrom(picker, 400)), { v2: 300, v3: 100 });
  });

  it('queues calls while no weighted subset is READY and one is CONNECTING', () => {
    const { picker } = aggregateState(
      [subset('v1', CONNECTING), subset('v2', TRANSIENT_FAILURE)],
      split({ v1: 1, v2: 1 }),
      false,
      null,
    );
    assert.deepEqual(picksFrom(picker, 3), ['QUEUE', 'QUEUE', 'QUEUE']);
  });

  it("hands back the READY child picker's result: a child that queues makes the call queue", () => {
    const v1: SubsetView = { name: 'v1', state: READY, picker: queue, lastError: null, inGrace: false };
    const { picker } = aggregateState([v1], split({ v1: 1 }), false, null);
    assert.deepEqual(picksFrom(picker, 2), ['QUEUE', 'QUEUE']);
  });

  it('fails a call routed to a failed subset UNAVAILABLE, naming the subset, its state and last error', () => {
    const state = split({ v1: 50, v2: 50 });
    const { picker } = aggregateState(
      [subset('v1', TRANSIENT_FAILURE, 'connect ECONNREFUSED'), subset('v2', READY)],
      state,
      false,
      routingOf(state),
    );
    assert.deepEqual(picksFrom(picker, 1, routedTo(state, 'v1')), [
      'TRANSIENT_FAILURE: traffic_split: subset "v1" has no READY ' +
        'endpoints (TRANSIENT_FAILURE); last error: connect ECONNREFUSED',
    ]);
    assert.deepEqual(picksFrom(picker, 2, routedTo(state, 'v2')), ['v2', 'v2']);
  });

  it('queues a call routed to a CONNECTING subset, and drops one routed to an unknown subset', () => {
    const state = split({ v1: 50, v2: 50 });
    const { picker } = aggregateState([subset('v1', CONNECTING), subset('v2', READY)], state, false, routingOf(state));
    assert.deepEqual(picksFrom(picker, 1, routedTo(state, 'v1')), ['QUEUE']);
    assert.deepEqual(picksFrom(picker, 1, routedTo(state, 'v9')), [
      'DROP: traffic_split: unknown subset "v9" (subsets: v1, v2)',
    ]);
  });

  it('removes the reserved header from every call it picks, and never routes by it', () => {
    const state = split({ v1: 0, v2: 1 });
    const forged = `${state.token};s=v1`;
    const views = [subset('v1', READY), subset('v2', READY)];
    const sent: grpc.Metadata[] = [];
    /** `base` carrying a forged header; the control: it is there until the pick. */
    const forging = (base: () => grpc.Metadata) => () => {
      const metadata = base();
      metadata.set(HINT_KEY, forged);
      assert.deepEqual(metadata.get(HINT_KEY), [forged]);
      sent.push(metadata);
      return metadata;
    };
    // The plain pick (no routing table), a plain call and a routed one on the routed path.
    const plain = aggregateState(views, state, false, null).picker;
    const routed = aggregateState(views, state, false, routingOf(state)).picker;
    assert.deepEqual(
      picksFrom(
        plain,
        2,
        forging(() => new grpc.Metadata()),
      ),
      ['v2', 'v2'],
    );
    assert.deepEqual(
      picksFrom(
        routed,
        2,
        forging(() => new grpc.Metadata()),
      ),
      ['v2', 'v2'],
    );
    // A call prepared by the call guard without the split's interceptor (which removes the header
    // from the calls it sees): the picker removes it.
    const unintercepted = (): grpc.Metadata => {
      const metadata = routedTo(state, 'v1')();
      contextOf(metadata)!.intercepted = false;
      return metadata;
    };
    assert.deepEqual(picksFrom(routed, 1, forging(unintercepted)), ['v1']);
    assert.deepEqual(
      sent.map((metadata) => metadata.get(HINT_KEY)),
      [[], [], [], [], []],
    );
  });
});

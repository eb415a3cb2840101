/**
 * Where the picker sends the later attempts of a call (call-attempts.ts): fake subsets whose
 * endpoints are labelled `<subset>/<n>`, and a call record shared by every attempt of a call, as
 * the split's interceptor attaches it. An attempt "runs" when the test calls its
 * `onCallStarted`, as grpc-js does once the stream opened.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { aggregateState, type SubsetView } from '../src/policy/balancer/aggregate-state.js';
import type { CallContext } from '../src/policy/call/call-context.js';
import { metadataWith, newRecord, routedTo } from './helpers/call-context.js';
import { SplitState } from '../src/policy/balancer/split-state.js';
import type { FakeSubchannel } from './helpers/fake-child-policy.js';
import { routingOf } from './helpers/routing-table.js';

const { READY, TRANSIENT_FAILURE } = grpc.connectivityState;
const { PickResultType, UnavailablePicker } = grpc.experimental;
type Picker = grpc.experimental.Picker;
type PickResult = grpc.experimental.PickResult;

/** A child picker handing out `labels` in this order, round and round (`labels` may repeat one,
 * as a weighted child does). */
function rotatingPicker(labels: readonly string[]): Picker {
  const subchannels = new Map<string, FakeSubchannel>();
  let next = 0;
  return {
    pick: () => {
      const label = labels[next++ % labels.length]!;
      let subchannel = subchannels.get(label);
      if (subchannel === undefined) subchannels.set(label, (subchannel = { label }));
      return {
        pickResultType: PickResultType.COMPLETE,
        subchannel: subchannel as unknown as grpc.experimental.SubchannelInterface,
        status: null,
        onCallStarted: null,
        onCallEnded: null,
      };
    },
  };
}

function ready(name: string, endpoints: readonly string[]): SubsetView {
  return { name, state: READY, picker: rotatingPicker(endpoints), lastError: null, inGrace: false };
}

function down(name: string): SubsetView {
  return {
    name,
    state: TRANSIENT_FAILURE,
    picker: new UnavailablePicker({ code: grpc.status.UNAVAILABLE, details: 'down' }),
    lastError: 'down',
    inGrace: false,
  };
}

function split(weights: Record<string, number>): SplitState {
  return new SplitState('split', Object.keys(weights), Object.values(weights), undefined, 11);
}

/** One call: every attempt picks with metadata carrying the same context (routed to
 * `route.subset`, when given), and the entries `entries` adds, if any. */
class Call {
  readonly record: CallContext;
  constructor(
    /** The channel's picker in force (a test may swap in the next one). */
    public picker: Picker,
    otherSubset: boolean,
    private readonly entries?: (metadata: grpc.Metadata) => grpc.Metadata,
    route?: { token: string; splitName: string; subset: string },
  ) {
    this.record = route === undefined ? newRecord(otherSubset) : routedTo(route, route.subset, otherSubset);
  }

  /** Picks an attempt; `run` starts it (and ends it with `end`, when given). */
  attempt(run = true, end?: { code: grpc.status; details: string }): string {
    let metadata = metadataWith(this.record);
    if (this.entries !== undefined) metadata = this.entries(metadata);
    const result: PickResult = this.picker.pick({ metadata, extraPickInfo: {} });
    if (result.pickResultType !== PickResultType.COMPLETE)
      return `${PickResultType[result.pickResultType]}: ${result.status?.details}`;
    // Read first: the split's pooled pick result lets go of its subchannel when the attempt ends.
    const label = (result.subchannel as unknown as FakeSubchannel).label;
    if (run) result.onCallStarted?.();
    if (run && end !== undefined) result.onCallEnded?.(end.code, end.details, new grpc.Metadata());
    return label;
  }
}

const subsetOf = (label: string) => label.split('/')[0]!;

describe('later attempts without retryOnOtherSubset', () => {
  it("stay in the call's subset and take an endpoint the call has not tried while the subset has one", () => {
    const state = split({ v1: 1, v2: 1 });
    // v1's child hands out v1/a twice in a row: an untried endpoint needs a second pick.
    const { picker } = aggregateState(
      [ready('v1', ['v1/a', 'v1/a', 'v1/b', 'v1/c']), ready('v2', ['v2/a'])],
      state,
      false,
      null,
    );
    for (let n = 0; n < 40; n++) {
      const call = new Call(picker, false);
      const attempts = [call.attempt(), call.attempt(), call.attempt(), call.attempt()];
      const subset = subsetOf(attempts[0]!);
      assert.deepEqual(attempts.map(subsetOf), Array(4).fill(subset), `call ${n}: ${attempts}`);
      // Every endpoint of v1 before any twice; v2 has one, which every attempt gets again.
      if (subset === 'v1') assert.equal(new Set(attempts.slice(0, 3)).size, 3, `call ${n}: ${attempts}`);
      else assert.deepEqual(attempts, Array(4).fill('v2/a'));
    }
  });

  it("are not made of re-picks: an attempt that never started holds the call's one place in the schedule", () => {
    const state = split({ v1: 1, v2: 1 });
    const { picker } = aggregateState([ready('v1', ['v1/a']), ready('v2', ['v2/a'])], state, false, null);
    const call = new Call(picker, false);
    // 40 picks of one queued-then-dropped attempt: one draw of the schedule, the same subset each time.
    const picks = Array.from({ length: 40 }, () => subsetOf(call.attempt(false)));
    assert.deepEqual(picks, Array(40).fill(picks[0]));
    assert.equal(call.record.callSubset, -1);
    // The schedule was drawn once, mid-period: the next call takes the period's other place.
    assert.equal(subsetOf(new Call(picker, false).attempt()), picks[0] === 'v1' ? 'v2' : 'v1');
    // Once one starts, every later attempt stays there.
    const first = subsetOf(call.attempt());
    assert.deepEqual(
      Array.from({ length: 5 }, () => subsetOf(call.attempt())),
      Array(5).fill(first),
    );
  });

  it("take a subset as a new call would when the call's subset left READY", () => {
    const state = split({ v1: 1, v2: 1 });
    const subsets = [ready('v1', ['v1/a']), ready('v2', ['v2/a'])];
    const call = new Call(aggregateState(subsets, state, false, null).picker, false);
    const first = subsetOf(call.attempt());
    assert.equal(subsetOf(call.attempt()), first);
    // The call's subset fails; the channel's next picker places the next attempt on the other.
    const remaining = first === 'v1' ? [down('v1'), subsets[1]!] : [subsets[0]!, down('v2')];
    call.picker = aggregateState(remaining, state, false, null).picker;
    assert.equal(subsetOf(call.attempt()), first === 'v1' ? 'v2' : 'v1');
  });
});

describe('later attempts with retryOnOtherSubset', () => {
  it("go to a READY weighted subset the call has not tried, then stay in the call's subset once all are tried", () => {
    const state = split({ v1: 60, v2: 30, v3: 10, v4: 0 });
    const subsets = [
      ready('v1', ['v1/a', 'v1/b']),
      ready('v2', ['v2/a']),
      ready('v3', ['v3/a']),
      ready('v4', ['v4/a']),
    ];
    const { picker } = aggregateState(subsets, state, false, routingOf(state));
    const firsts: Record<string, number> = {};
    for (let n = 0; n < 100; n++) {
      const call = new Call(picker, true);
      const attempts = [call.attempt(), call.attempt(), call.attempt()].map(subsetOf);
      firsts[attempts[0]!] = (firsts[attempts[0]!] ?? 0) + 1;
      // Three attempts, three weighted subsets: each once; never v4 (weight 0).
      assert.deepEqual([...attempts].sort(), ['v1', 'v2', 'v3'], `call ${n}`);
      // A fourth and fifth: every weighted subset tried, so back to the call's own, on its other endpoint
      // where it has one.
      const [fourth, fifth] = [call.attempt(), call.attempt()];
      assert.deepEqual([subsetOf(fourth), subsetOf(fifth)], [attempts[0], attempts[0]], `call ${n}`);
    }
    // First attempts follow the weights (later attempts draw from schedules of their own), within
    // the schedule's window bound.
    const off = Object.entries({ v1: 60, v2: 30, v3: 10 }).filter(
      ([name, share]) => Math.abs((firsts[name] ?? 0) - share) > 2,
    );
    assert.deepEqual(off, [], JSON.stringify(firsts));
  });

  it('keep an explicit route on its subset, on an endpoint the call has not tried', () => {
    const state = split({ v1: 1, v2: 1 });
    const { picker } = aggregateState(
      [ready('v1', ['v1/a']), ready('v2', ['v2/a', 'v2/b'])],
      state,
      false,
      routingOf(state),
    );
    const call = new Call(picker, true, undefined, { token: state.token, splitName: state.name, subset: 'v2' });
    assert.deepEqual([call.attempt(), call.attempt(), call.attempt()], ['v2/a', 'v2/b', 'v2/a']);
  });

  it(
    "send a keyed call's later attempt to the key's next " +
      "subset, and keep it on the key's subset without the option",
    () => {
      const state = split({ v1: 1, v2: 1, v3: 1 });
      const subsets = [ready('v1', ['v1/a']), ready('v2', ['v2/a']), ready('v3', ['v3/a'])];
      const keyed = (key: string) => (metadata: grpc.Metadata) => {
        metadata.set('x-user', key);
        return metadata;
      };
      const spread = aggregateState(subsets, state, false, routingOf(state, 'x-user')).picker;
      const stay = aggregateState(subsets, state, false, routingOf(state, 'x-user')).picker;
      const seconds = new Set<string>();
      for (let n = 0; n < 30; n++) {
        const one = new Call(spread, true, keyed(`user-${n}`));
        const [first, second] = [one.attempt(), one.attempt()];
        assert.notEqual(subsetOf(second), subsetOf(first), `user-${n}`);
        // The key's next choice is a function of the key: the same in every process.
        const again = new Call(spread, true, keyed(`user-${n}`));
        assert.deepEqual([again.attempt(), again.attempt()], [first, second], `user-${n}`);
        seconds.add(`${subsetOf(first)}>${subsetOf(second)}`);
        const without = new Call(stay, false, keyed(`user-${n}`));
        assert.deepEqual([without.attempt(), without.attempt()], [first, first], `user-${n}`);
      }
      assert.ok(seconds.size >= 4, [...seconds].join());
    },
  );

  it("keep the transparent retry of an attempt the server refused in the call's subset", () => {
    const state = split({ v1: 1, v2: 1 });
    const { picker } = aggregateState(
      [ready('v1', ['v1/a', 'v1/b']), ready('v2', ['v2/a', 'v2/b'])],
      state,
      false,
      routingOf(state),
    );
    for (let n = 0; n < 10; n++) {
      const call = new Call(picker, true);
      const first = call.attempt(true, { code: grpc.status.UNAVAILABLE, details: 'Stream refused by server' });
      const retry = call.attempt();
      assert.equal(subsetOf(retry), subsetOf(first), `call ${n}`);
      assert.notEqual(retry, first, `call ${n}: another endpoint`);
      // An attempt that ran (answered or running) counts: the next one goes elsewhere.
      assert.notEqual(subsetOf(call.attempt()), subsetOf(first), `call ${n}`);
    }
  });

  it("stay in the call's subset when no other READY weighted subset exists", () => {
    const state = split({ v1: 1, v2: 0 });
    const { picker } = aggregateState(
      [ready('v1', ['v1/a', 'v1/b']), ready('v2', ['v2/a'])],
      state,
      false,
      routingOf(state),
    );
    const call = new Call(picker, true);
    assert.deepEqual([call.attempt(), call.attempt(), call.attempt()], ['v1/a', 'v1/b', 'v1/a']);
  });
});

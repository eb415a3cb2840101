/**
 * Issue 22 (methods) attacked where no socket is needed: what the picker, the method lookup
 * and the method-weight book remember of the method names a generic client sends, the bound on
 * the overrides in force, and the streams of an override that goes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { aggregateState, type SubsetView } from '../src/policy/balancer/aggregate-state.js';
import { SplitState } from '../src/policy/balancer/split-state.js';
import type { RoutingTable } from '../src/policy/balancer/picker.js';
import { CallContext } from '../src/policy/call/call-context.js';
import { MAX_METHOD_KEY_LENGTH, MethodLookup } from '../src/algorithms/routing/method-lookup.js';
import { subsetSeeds } from '../src/algorithms/routing/sticky-hash.js';
import { seededRandom } from '../src/algorithms/random.js';
import { StreamBook, StreamPin } from '../src/algorithms/streams/stream-book.js';
import { MAX_OWN_SCHEDULES, MethodWeightBook } from '../src/policy/methods/method-weight-book.js';
import { parseMethodWeights } from '../src/policy/methods/method-weights.js';
import { completingPicker } from './helpers/fake-child-policy.js';
import { metadataWith } from './helpers/call-context.js';

const NAMES = ['v1', 'v2'];
const READY = grpc.connectivityState.READY;

function readySubsets(): SubsetView[] {
  return NAMES.map((name) => ({
    name,
    state: READY,
    picker: completingPicker(name),
    lastError: null,
    inGrace: false,
  }));
}

/** A split state with one override, and a picker over two READY fake subsets. */
function pickerOver(state: SplitState): grpc.experimental.Picker {
  const routing: RoutingTable = {
    token: state.token,
    splitName: state.name,
    subsetNames: NAMES,
    rules: [],
    stickyKey: null,
    seeds: subsetSeeds(NAMES),
  };
  return aggregateState(readySubsets(), state, false, routing).picker;
}

function pickFor(picker: grpc.experimental.Picker, state: SplitState, method: string): string {
  const context = new CallContext({ token: state.token, splitName: state.name }, false, false, method);
  context.intercepted = true;
  const result = picker.pick({ metadata: metadataWith(context), extraPickInfo: {} });
  return (result.subchannel as unknown as { label: string }).label;
}

describe('adversary: what the split remembers of method names', () => {
  it('keeps no name longer than a key, nor a non-method name, in the picker, the lookup or the book', () => {
    const state = new SplitState('split', NAMES, [1, 1], undefined, 3);
    state.applyMethodWeights(new Map([['/shop.Store/Write', [1, 0]]]), false);
    const picker = pickerOver(state);
    for (let i = 0; i < 300; i++) {
      assert.equal(pickFor(picker, state, '/shop.Store/Write'), 'v1');
      pickFor(picker, state, `/big.S/${i}${'B'.repeat(10_000)}`);
      pickFor(picker, state, `/a/b/c${i}`);
      pickFor(picker, state, `no slash ${i}`);
    }
    const plans = (picker as unknown as { ownPlans: Map<string, unknown> }).ownPlans;
    const own = (state.methods as unknown as { own: Map<string, unknown> }).own;
    const memo = (state.methods.lookup as unknown as { remembered: Map<string, number> }).remembered;
    assert.deepEqual([...plans.keys()], ['/shop.Store/Write']);
    assert.deepEqual([...own.keys()], ['/shop.Store/Write']);
    assert.ok(
      [...memo.keys()].every((name) => name.length <= MAX_METHOD_KEY_LENGTH),
      'the lookup remembers short names only',
    );
  });

  it('still splits a name it does not remember by the weights that apply to it', () => {
    const lookup = new MethodLookup(['/big.S/']);
    const long = `/big.S/${'x'.repeat(5_000)}`;
    assert.equal(lookup.indexOf(long), 0);
    assert.equal(lookup.indexOf(long), 0);
    const state = new SplitState('split', NAMES, [1, 1], undefined, 3);
    state.applyMethodWeights(new Map([['/big.S/', [0, 1]]]), false);
    const picker = pickerOver(state);
    for (let i = 0; i < 20; i++) assert.equal(pickFor(picker, state, `${long}${i}`), 'v2');
  });

  it('gives own schedules to method names only, up to MAX_OWN_SCHEDULES', () => {
    const methods = new MethodWeightBook(2, seededRandom(1), () => 0, new StreamBook(2, seededRandom(2), () => 0));
    const weights = Object.freeze([1, 1]);
    for (const name of ['', '/', '//', '/a/b/c', 'a/b', '/a b/c', '/a/\n', `/a/${'x'.repeat(MAX_METHOD_KEY_LENGTH)}`])
      assert.equal(methods.ownSchedules(name, weights), null, JSON.stringify(name.slice(0, 20)));
    for (let i = 0; i < MAX_OWN_SCHEDULES; i++) assert.notEqual(methods.ownSchedules(`/g.S/M${i}`, weights), null);
    assert.equal(methods.ownSchedules('/g.S/late', weights), null);
  });
});

describe('adversary: the overrides in force', () => {
  it('counts what a change would leave in force, removals and replacements included', () => {
    const methods = new MethodWeightBook(2, seededRandom(1), () => 0, new StreamBook(2, seededRandom(2), () => 0));
    methods.apply(
      new Map([
        ['/a.S/A', [1, 0]],
        ['/a.S/B', [1, 0]],
      ]),
      false,
    );
    const change = new Map<string, number[] | null>([
      ['/a.S/A', null],
      ['/a.S/C', [1, 1]],
      ['/a.S/D', [1, 1]],
    ]);
    assert.equal(methods.sizeAfter(change, false), 3);
    assert.equal(methods.sizeAfter(change, true), 2);
  });

  it('takes a whole set replacing another (1,000 removals beside 1,000 overrides), and no more', () => {
    const removals = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`/old.S/M${i}`, null]));
    const set = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`/new.S/M${i}`, { v1: 1, v2: 1 }]));
    assert.equal(parseMethodWeights(NAMES, { ...removals, ...set }, 'm', true).size, 2_000);
    assert.throws(
      () => parseMethodWeights(NAMES, { ...removals, ...set, '/new.S/one-more': { v1: 1, v2: 0 } }, 'm', true),
      /^TrafficSplitRangeError: m: at most 1000 overrides, got 1001$/,
    );
    assert.throws(
      () => parseMethodWeights(NAMES, { ...removals, '/old.S/one-more': null }, 'm', true),
      /^TrafficSplitRangeError: m: at most 1000 removals, got 1001$/,
    );
  });
});

describe('adversary: the streams of an override that goes', () => {
  it('are taken over by the split`s book, placed or waiting, and end there', () => {
    const split = new StreamBook(2, seededRandom(1), () => 0);
    const override = new StreamBook(2, seededRandom(2), () => 0);
    const open = Array.from({ length: 3 }, () => override.newRecord(() => {}));
    for (const record of open) {
      record.home = override;
      override.started(record, override.place(record, 1, StreamPin.Keyless), 1);
    }
    const waiting = override.newRecord(() => {});
    waiting.home = override;
    override.queued(waiting, 0);
    split.adopt(override);
    assert.deepEqual([override.openOn(1), override.openOrWaitingOn(0)], [0, 0]);
    assert.deepEqual([split.openOn(1), split.openOrWaitingOn(0)], [3, 1]);
    assert.ok([...open, waiting].every((record) => record.home === split));
    for (const record of [...open, waiting]) record.home!.ended(record);
    assert.deepEqual([split.openOn(0), split.openOn(1), split.openOrWaitingOn(0)], [0, 0, 0]);
  });
});

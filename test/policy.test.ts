/**
 * The traffic_split policy's state machine (policy.ts, subset-child.ts) on fake child policies
 * whose states the tests drive, reporting to a recording ChannelControlHelper: which states and
 * pickers reach the channel, and how many updates.
 */
import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplitLoadBalancer, TrafficSplitLoadBalancingConfig } from '../src/policy/balancer/policy.js';
import { SplitState, STATE_ATTRIBUTE } from '../src/policy/balancer/split-state.js';
import {
  FAKE_CHILD_POLICY,
  fakeChild,
  hasFakeChild,
  picksFrom,
  registerFakeChildPolicy,
  tally,
  type FakeChildPolicy,
} from './helpers/fake-child-policy.js';
import { recordingHelper, type RecordingHelper } from './helpers/recording-helper.js';
import { FakeClock } from './helpers/fake-clock.js';

const { READY, CONNECTING, IDLE, TRANSIENT_FAILURE } = grpc.connectivityState;

/** Each test's subsets get ports no other test uses, so fake children never mix up. */
let nextPort = 20_000;

interface Setup {
  policy: TrafficSplitLoadBalancer;
  helper: RecordingHelper;
  state: SplitState;
  /** The fake child of each subset, by name, once resolved. */
  children: Record<string, FakeChildPolicy>;
}

const live: TrafficSplitLoadBalancer[] = [];

/** A policy over one fake child per subset, each with its own in-process target. */
async function setup(weights: Record<string, number>, extra: object = {}, clock?: FakeClock): Promise<Setup> {
  const names = Object.keys(weights);
  const ports = names.map(() => nextPort++);
  const config = TrafficSplitLoadBalancingConfig.createFromJson({
    subsets: Object.fromEntries(names.map((name, i) => [name, `ipv4:127.0.0.1:${ports[i]}`])),
    weights,
    childPolicy: [{ [FAKE_CHILD_POLICY]: {} }],
    ...extra,
  });
  const state = new SplitState('split', names, Object.values(weights), undefined, 3, clock);
  const helper = recordingHelper();
  const policy = new TrafficSplitLoadBalancer(helper);
  live.push(policy);
  assert.equal(policy.updateAddressList({ ok: true, value: [] }, config, { [STATE_ATTRIBUTE]: state }, ''), true);
  const children: Record<string, FakeChildPolicy> = {};
  for (const [i, name] of names.entries()) children[name] = await fakeChild(ports[i]!);
  return { policy, helper, state, children };
}

describe('traffic_split policy', () => {
  before(registerFakeChildPolicy);
  afterEach(() => {
    for (const policy of live.splice(0)) policy.destroy();
  });

  it('reports CONNECTING once for a whole new config, however many subsets it has', async () => {
    const { helper } = await setup({ v1: 1, v2: 1, v3: 1 });
    assert.deepEqual(helper.states(), ['CONNECTING']);
    assert.equal(helper.last().errorMessage, null);
    assert.deepEqual(picksFrom(helper.last().picker, 2), ['QUEUE', 'QUEUE']);
  });

  it(
    'reports READY with a new picker when the first weighted ' +
      'subset becomes READY; the one still connecting keeps its share',
    async () => {
      const { helper, children } = await setup({ v1: 90, v2: 10 });
      children['v1']!.report(READY, 'v1');
      assert.deepEqual(helper.states(), ['CONNECTING', 'READY']);
      assert.deepEqual(tally(picksFrom(helper.last().picker, 100)), { v1: 90, QUEUE: 10 });
      children['v2']!.report(READY, 'v2');
      assert.deepEqual(helper.states(), ['CONNECTING', 'READY', 'READY']);
      assert.deepEqual(tally(picksFrom(helper.last().picker, 100)), { v1: 90, v2: 10 });
    },
  );

  it('gives a connecting subset no share with connectGraceMs 0', async () => {
    const { helper, children } = await setup({ v1: 90, v2: 10 }, { connectGraceMs: 0 });
    children['v1']!.report(READY, 'v1');
    assert.deepEqual(tally(picksFrom(helper.last().picker, 100)), { v1: 100 });
  });

  it('ends the grace after connectGraceMs with one new picker, and grants it again only after READY', async () => {
    const clock = new FakeClock();
    const { helper, children } = await setup({ v1: 50, v2: 50 }, { connectGraceMs: 300 }, clock);
    children['v1']!.report(READY, 'v1');
    assert.deepEqual(tally(picksFrom(helper.last().picker, 10)), { v1: 5, QUEUE: 5 });
    clock.advance(299);
    assert.deepEqual(helper.states(), ['CONNECTING', 'READY']);
    clock.advance(1);
    assert.deepEqual(helper.states(), ['CONNECTING', 'READY', 'READY']);
    assert.deepEqual(tally(picksFrom(helper.last().picker, 10)), { v1: 10 });
    // READY, then a GOAWAY: IDLE and CONNECTING again, in grace for another 300 ms.
    children['v2']!.report(READY, 'v2');
    children['v2']!.report(IDLE, 'v2');
    children['v2']!.report(CONNECTING, 'v2');
    assert.deepEqual(tally(picksFrom(helper.last().picker, 10)), { v1: 5, QUEUE: 5 });
    // A failure ends it at once, and CONNECTING after a failure has none.
    children['v2']!.report(TRANSIENT_FAILURE, 'v2', 'refused');
    children['v2']!.report(CONNECTING, 'v2');
    assert.deepEqual(tally(picksFrom(helper.last().picker, 10)), { v1: 10 });
    clock.advance(1_000);
    assert.deepEqual(tally(picksFrom(helper.last().picker, 10)), { v1: 10 });
  });

  it('reports once for a new service config that changes the weights of a split it owns (one update per batch)', async () => {
    const port = nextPort++;
    const configWith = (weights: Record<string, number>) =>
      TrafficSplitLoadBalancingConfig.createFromJson({
        subsets: { v1: `ipv4:127.0.0.1:${port}` },
        weights,
        childPolicy: [{ [FAKE_CHILD_POLICY]: {} }],
      });
    const helper = recordingHelper();
    const policy = new TrafficSplitLoadBalancer(helper);
    live.push(policy);
    // No shared state in the options: the policy owns one, whose weights follow each config.
    policy.updateAddressList({ ok: true, value: [] }, configWith({ v1: 1 }), {}, '');
    (await fakeChild(port)).report(READY, 'v1');
    policy.updateAddressList({ ok: true, value: [] }, configWith({ v1: 2 }), {}, '');
    assert.deepEqual(helper.states(), ['CONNECTING', 'READY', 'READY']);
  });

  it('rebuilds the picker on a weight change, with one update', async () => {
    const { helper, children, state } = await setup({ v1: 90, v2: 10 });
    children['v1']!.report(READY, 'v1');
    children['v2']!.report(READY, 'v2');
    const before = helper.updates.length;
    state.setWeights({ v1: 25, v2: 75 });
    assert.equal(helper.updates.length, before + 1);
    assert.equal(helper.states().at(-1), 'READY');
    assert.deepEqual(tally(picksFrom(helper.last().picker, 100)), { v1: 25, v2: 75 });
    // Setting the same weights again changes nothing.
    state.setWeights({ v1: 25, v2: 75 });
    assert.equal(helper.updates.length, before + 1);
  });

  it('gives a subset that leaves READY no calls, its share going to the others, and takes it back when READY again', async () => {
    const { helper, children } = await setup({ v1: 50, v2: 30, v3: 20 });
    for (const name of ['v1', 'v2', 'v3']) children[name]!.report(READY, name);
    children['v1']!.report(TRANSIENT_FAILURE, 'v1', 'connection refused');
    assert.deepEqual(helper.states(), ['CONNECTING', 'READY', 'READY', 'READY', 'READY']);
    assert.deepEqual(tally(picksFrom(helper.last().picker, 500)), { v2: 300, v3: 200 });
    children['v1']!.report(READY, 'v1');
    assert.deepEqual(tally(picksFrom(helper.last().picker, 100)), { v1: 50, v2: 30, v3: 20 });
  });

  it(
    'reports TRANSIENT_FAILURE naming every subset and state ' +
      'when all weighted subsets fail; weight-0 ones do not count',
    async () => {
      const { helper, children } = await setup({ v1: 70, v2: 30, dark: 0 });
      children['dark']!.report(READY, 'dark');
      children['v1']!.report(TRANSIENT_FAILURE, 'v1', 'refused');
      assert.deepEqual(helper.states(), ['CONNECTING', 'CONNECTING', 'CONNECTING']);
      children['v2']!.report(TRANSIENT_FAILURE, 'v2', 'reset');
      assert.deepEqual(helper.states(), ['CONNECTING', 'CONNECTING', 'CONNECTING', 'TRANSIENT_FAILURE']);
      const message =
        'traffic_split: no weighted subset is READY; v1 (weight 70): TRANSIENT_FAILURE (last error: refused); ' +
        'v2 (weight 30): TRANSIENT_FAILURE (last error: reset); dark (weight 0): READY';
      assert.equal(helper.last().errorMessage, message);
      assert.deepEqual(picksFrom(helper.last().picker, 1), [`TRANSIENT_FAILURE: ${message}`]);
    },
  );

  it('asks an IDLE child to connect again, after its state callback returns', async () => {
    const { children } = await setup({ v1: 1 });
    const v1 = children['v1']!;
    v1.report(IDLE);
    assert.equal(v1.exitIdleCalls, 0);
    await Promise.resolve();
    assert.equal(v1.exitIdleCalls, 1);
    v1.report(CONNECTING);
    await Promise.resolve();
    assert.equal(v1.exitIdleCalls, 1);
  });

  it('on destroy, destroys every child and tells the channel nothing more', async () => {
    const { policy, helper, children, state } = await setup({ v1: 50, v2: 50 });
    children['v1']!.report(READY, 'v1');
    const count = helper.updates.length;
    policy.destroy();
    assert.deepEqual([children['v1']!.destroyed, children['v2']!.destroyed], [true, true]);
    children['v1']!.report(TRANSIENT_FAILURE, 'v1');
    children['v2']!.report(READY, 'v2');
    state.setWeights({ v1: 10, v2: 90 });
    assert.equal(helper.updates.length, count);
    assert.equal(
      policy.updateAddressList(
        { ok: true, value: [] },
        TrafficSplitLoadBalancingConfig.createFromJson({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } }),
        {},
        '',
      ),
      false,
    );
    assert.equal(helper.updates.length, count);
  });

  it('fails every call with DROP once its split is closed, and releases the children', async () => {
    const { helper, children, state } = await setup({ v1: 1 });
    children['v1']!.report(READY, 'v1');
    state.close();
    assert.deepEqual(helper.states(), ['CONNECTING', 'READY', 'TRANSIENT_FAILURE']);
    assert.equal(children['v1']!.destroyed, true);
    assert.deepEqual(picksFrom(helper.last().picker, 1), ['DROP: traffic_split: split "split" is closed']);
  });

  it("keeps an unchanged subset's child across a new config and replaces a subset whose target changed", async () => {
    const { policy, helper, children, state } = await setup({ v1: 50, v2: 50 });
    children['v1']!.report(READY, 'v1');
    const port = nextPort++;
    const v1Target = `ipv4:127.0.0.1:${children['v1']!.port}`;
    const config = TrafficSplitLoadBalancingConfig.createFromJson({
      subsets: { v1: v1Target, v2: `ipv4:127.0.0.1:${port}` },
      weights: { v1: 50, v2: 50 },
      childPolicy: [{ [FAKE_CHILD_POLICY]: {} }],
    });
    const before = helper.updates.length;
    policy.updateAddressList({ ok: true, value: [] }, config, { [STATE_ATTRIBUTE]: state }, '');
    assert.equal(helper.updates.length, before + 1);
    assert.deepEqual([children['v1']!.destroyed, children['v2']!.destroyed], [false, true]);
    const v2 = await fakeChild(port);
    assert.equal(hasFakeChild(port), true);
    v2.report(READY, 'v2');
    assert.deepEqual(tally(picksFrom(helper.last().picker, 100)), { v1: 50, v2: 50 });
  });
});

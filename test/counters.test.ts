import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SubsetCounters } from '../src/policy/call/counters.js';
import { newRecord } from './helpers/call-context.js';
import { callEcho } from './helpers/echo-service.js';
import { eventually } from './helpers/split-helpers.js';
import { rig } from './helpers/rig.js';

const {
  ChildLoadBalancerHandler,
  createChildChannelControlHelper,
  parseLoadBalancingConfig,
  registerLoadBalancerType,
  PickResultType,
} = grpc.experimental;
type PickResult = grpc.experimental.PickResult;

/** What a frozen child's hooks saw, per policy instance name. */
const childHooks = { started: 0, ended: [] as number[] };

/** A child policy (round_robin underneath) whose pickers return FROZEN results, with hooks of
 * their own when its config says so: a split must count through them without mutating them. */
class FrozenConfig implements grpc.experimental.TypedLoadBalancingConfig {
  constructor(readonly hooks: boolean) {}
  getLoadBalancerName(): string {
    return 'test_frozen_picks';
  }
  toJsonObject(): object {
    return { test_frozen_picks: { hooks: this.hooks } };
  }
  static createFromJson(obj: { hooks?: boolean }): FrozenConfig {
    return new FrozenConfig(obj?.hooks === true);
  }
}

class FrozenPicksBalancer implements grpc.experimental.LoadBalancer {
  private readonly child: InstanceType<typeof ChildLoadBalancerHandler>;
  private hooks = false;
  constructor(helper: grpc.experimental.ChannelControlHelper) {
    this.child = new ChildLoadBalancerHandler(
      createChildChannelControlHelper(helper, {
        updateState: (state, picker, error) => {
          helper.updateState(
            state,
            {
              pick: (args) => {
                const result = picker.pick(args);
                if (result.pickResultType !== PickResultType.COMPLETE) return result;
                const own: PickResult = this.hooks
                  ? {
                      ...result,
                      onCallStarted: () => void childHooks.started++,
                      onCallEnded: (code) => void childHooks.ended.push(code),
                    }
                  : { ...result, onCallStarted: null, onCallEnded: null };
                return Object.freeze(own);
              },
            },
            error,
          );
        },
      }),
    );
  }
  updateAddressList(
    endpoints: grpc.experimental.StatusOr<grpc.experimental.Endpoint[]>,
    config: grpc.experimental.TypedLoadBalancingConfig,
    options: grpc.ChannelOptions,
    note: string,
  ): boolean {
    this.hooks = (config as FrozenConfig).hooks;
    return this.child.updateAddressList(endpoints, parseLoadBalancingConfig({ round_robin: {} }), options, note);
  }
  exitIdle(): void {
    this.child.exitIdle();
  }
  resetBackoff(): void {
    this.child.resetBackoff();
  }
  destroy(): void {
    this.child.destroy();
  }
  getTypeName(): string {
    return 'test_frozen_picks';
  }
}

registerLoadBalancerType('test_frozen_picks', FrozenPicksBalancer, FrozenConfig);

describe('counting through a child policy', () => {
  for (const hooks of [false, true]) {
    it(`counts calls whose child pick results are frozen (${hooks ? 'with' : 'without'} hooks of their own)`, async (t) => {
      const { split, client } = await rig(t, { v1: 1, v2: 1 }, { childPolicy: [{ test_frozen_picks: { hooks } }] });
      childHooks.started = 0;
      childHooks.ended = [];
      for (let i = 0; i < 10; i++) await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
      await eventually(
        () => split.stats().subsets['v2']!.inFlight === 0 && split.stats().subsets['v1']!.inFlight === 0,
        () => JSON.stringify(split.stats().subsets),
      );
      const { v1: s1, v2: s2 } = split.stats().subsets;
      assert.equal(s1!.started + s2!.started, 10);
      assert.ok(s1!.started > 0 && s2!.started > 0, 'both subsets served');
      assert.deepEqual(
        [s1!.finished, s1!.codes, s2!.finished, s2!.codes],
        [s1!.started, { OK: s1!.started }, s2!.started, { OK: s2!.started }],
      );
      assert.deepEqual([childHooks.started, childHooks.ended.length], hooks ? [10, 10] : [0, 0]);
    });
  }
});

describe('SubsetCounters', () => {
  const complete = (
    onCallStarted: (() => void) | null = null,
    onCallEnded: PickResult['onCallEnded'] = null,
  ): PickResult =>
    Object.freeze({
      pickResultType: PickResultType.COMPLETE,
      subchannel: null,
      status: null,
      onCallStarted,
      onCallEnded,
    });
  const trailers = new grpc.Metadata();

  it('keeps hedging losers and refused streams out of finished, codes and latency, and in-flight consistent', () => {
    const counters = new SubsetCounters(2);
    const picks = [0, 0, 0, 1].map((subset) => counters.attach(subset, complete(), undefined));
    for (const pick of picks) pick.onCallStarted!();
    assert.deepEqual([counters.inFlight(0), counters.inFlight(1)], [3, 1]);
    picks[0]!.onCallEnded!(grpc.status.OK, 'OK', trailers);
    picks[1]!.onCallEnded!(grpc.status.CANCELLED, 'Discarded in favor of other hedged attempt', trailers);
    picks[2]!.onCallEnded!(grpc.status.UNAVAILABLE, 'Stream refused by server', trailers);
    picks[3]!.onCallEnded!(grpc.status.CANCELLED, 'Cancelled on client', trailers);
    const f0 = counters.figures(0, null);
    const f1 = counters.figures(1, null);
    assert.deepEqual(
      [f0.started, f0.finished, f0.abandoned, f0.refused, [...f0.codes], f1.finished, [...f1.codes]],
      [3, 1, 1, 1, [[grpc.status.OK, 1]], 1, [[grpc.status.CANCELLED, 1]]],
    );
    assert.deepEqual([counters.inFlight(0), counters.inFlight(1)], [0, 0]);
  });

  it('calls the child hooks after its own, and reuses attempts without mixing their calls', () => {
    const counters = new SubsetCounters(1);
    const seen: string[] = [];
    const first = counters.attach(
      0,
      complete(
        () => seen.push('a started'),
        (code) => seen.push(`a ended ${code}`),
      ),
      undefined,
    );
    first.onCallStarted!();
    first.onCallEnded!(grpc.status.OK, '', trailers);
    const record = newRecord(false);
    const second = counters.attach(
      0,
      complete(null, (code) => seen.push(`b ended ${code}`)),
      record,
    );
    assert.equal(second, first, 'pooled');
    second.onCallStarted!();
    assert.equal(record.started, true);
    second.onCallEnded!(grpc.status.INTERNAL, '', trailers);
    assert.deepEqual(seen, ['a started', 'a ended 0', 'b ended 13']);
    assert.deepEqual(
      [...counters.figures(0, null).codes],
      [
        [grpc.status.OK, 1],
        [grpc.status.INTERNAL, 1],
      ],
    );
  });

  it('counts calls that never started per split and per bound subset, and subtracts marks', () => {
    const counters = new SubsetCounters(2);
    counters.notStartedCall(-1, grpc.status.DEADLINE_EXCEEDED);
    const mark = counters.mark();
    counters.notStartedCall(1, grpc.status.DEADLINE_EXCEEDED);
    counters.notStartedCall(1, 99);
    assert.deepEqual(
      [...counters.splitNotStarted(null)],
      [
        [grpc.status.UNKNOWN, 1],
        [grpc.status.DEADLINE_EXCEEDED, 2],
      ],
    );
    assert.deepEqual(
      [...counters.splitNotStarted(mark)],
      [
        [grpc.status.UNKNOWN, 1],
        [grpc.status.DEADLINE_EXCEEDED, 1],
      ],
    );
    assert.deepEqual(
      [...counters.figures(1, mark).notStarted],
      [
        [grpc.status.UNKNOWN, 1],
        [grpc.status.DEADLINE_EXCEEDED, 1],
      ],
    );
    assert.deepEqual([...counters.figures(0, null).notStarted], []);
  });
});

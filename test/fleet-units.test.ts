/**
 * The fleet's pure parts, without etcd: how replicas' publications add up (and a window is
 * subtracted), how a mark takes each replica's answer to its snapshot request, the rollout
 * record's transitions, the refusal of what a value read from etcd must not be, the options,
 * one warning per etcd outage, and what a fleet rollout refuses to carry. The fleet against a
 * real etcd is tested in test/fleet/ (`npm run test:fleet`).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { SplitHandle, SplitStats, StatsMark, SubsetStats, TrafficSplitEvents } from '../src/index.js';
import { startRollout } from '../src/ops/index.js';
import { hostRollouts } from '../src/ops/rollout/rollout.js';
import { aggregate, decodePublication, publicationOf, type Publication } from '../src/fleet/state/figures.js';
import { PublicationStore } from '../src/fleet/state/publications.js';
import { concluded, decodeRecord, ended, newRecord, withWindow } from '../src/fleet/rollout/rollout-record.js';
import { decodeWeights } from '../src/fleet/state/weights-value.js';
import { parseFleetOptions } from '../src/fleet/options.js';
import { Reachability } from '../src/fleet/etcd/reachability.js';
import { FleetRollouts } from '../src/fleet/rollout/rollout-host.js';
import { FleetState } from '../src/fleet/state/state.js';
import { fleetKeys } from '../src/fleet/etcd/keys.js';
import type { FleetCore } from '../src/fleet/etcd/core.js';
import { planRollout } from '../src/ops/rollout/rollout-plan.js';
import { FakeClock } from './helpers/fake-clock.js';

function subset(
  finished: number,
  failures: number,
  latency: [number, number][],
  state: SubsetStats['state'] = 'READY',
): SubsetStats {
  return {
    weight: 1,
    target: 'ipv4:127.0.0.1:1',
    state,
    channels: { [state]: 1 },
    endpoints: 1,
    started: finished,
    finished,
    inFlight: 1,
    openStreams: 0,
    rebalanced: 0,
    codes: { OK: finished - failures, ...(failures > 0 && { UNAVAILABLE: failures }) },
    abandoned: 0,
    refused: 0,
    notStarted: {},
    latencyMs: { p50: null, p90: null, p99: null },
    latencyHistogram: latency,
  };
}

function stats(v1: SubsetStats, v2: SubsetStats): SplitStats {
  return {
    name: 's',
    target: 't',
    closed: false,
    periodMs: 1_000,
    weights: { v1: 1, v2: 1 },
    methodWeights: {},
    channels: 1,
    notStarted: {},
    subsets: { v1, v2 },
    mirror: null,
  };
}

function publication(replica: string, instance: string, ack: string, v1: SubsetStats, v2: SubsetStats): Publication {
  return publicationOf(stats(v1, v2), { replica, instance, seq: 1, ack, at: 10_000 });
}

describe('fleet figures', () => {
  it("add up every replica, and a window subtracts each replica's own baseline (a restarted instance counts whole)", () => {
    const a0 = publication('a', 'i1', '0', subset(100, 0, [[1, 100]]), subset(10, 1, [[2, 10]]));
    const a1 = publication(
      'a',
      'i1',
      '0',
      subset(150, 0, [[1, 150]]),
      subset(30, 3, [
        [2, 20],
        [4, 10],
      ]),
    );
    const b1 = publication('b', 'i2', '0', subset(40, 0, [[1, 40]]), subset(20, 2, [[8, 20]], 'CONNECTING'));
    const bOld = publication('b', 'i-before-restart', '0', subset(999, 0, [[1, 999]]), subset(999, 9, [[2, 999]]));
    const life = aggregate(['v1', 'v2'], { v1: 50, v2: 50 }, [a1, b1], null);
    assert.deepEqual(
      [
        life.subsets['v1']!.finished,
        life.subsets['v2']!.finished,
        life.subsets['v2']!.codes,
        life.subsets['v2']!.state,
        life.subsets['v2']!.weight,
      ],
      [190, 50, { OK: 45, UNAVAILABLE: 5 }, 'CONNECTING', 50],
    );
    const window = aggregate(
      ['v1', 'v2'],
      { v1: 50, v2: 50 },
      [a1, b1],
      new Map([
        ['a', a0],
        ['b', bOld],
      ]),
    );
    assert.deepEqual(
      [
        window.subsets['v1']!.finished,
        window.subsets['v2']!.finished,
        window.subsets['v2']!.codes,
        window.subsets['v2']!.latencyHistogram,
      ],
      [
        50 + 40,
        20 + 20,
        { OK: 36, UNAVAILABLE: 4 },
        [
          [1.984, 10],
          [3.968, 10],
          [7.936, 20],
        ],
      ],
    );
    // In-flight attempts are of now, summed: not differences.
    assert.deepEqual(
      [window.subsets['v1']!.inFlight, window.subsets['v2']!.latencyMs.p50, window.subsets['v2']!.latencyMs.p99],
      [2, 3.968, 7.936],
    );
  });

  it('read back from etcd: a publication with a missing or mistyped count is refused', () => {
    const good = JSON.parse(JSON.stringify(publication('a', 'i', '0', subset(1, 0, []), subset(1, 0, [])))) as Record<
      string,
      unknown
    >;
    assert.notEqual(decodePublication(good), null);
    const bad = JSON.parse(JSON.stringify(good)) as { subsets: { v1: Record<string, unknown> } };
    bad.subsets.v1['finished'] = '12';
    assert.equal(decodePublication(bad as unknown as Record<string, unknown>), null);
    assert.equal(decodePublication({ ...good, ack: 5 }), null);
  });

  it(
    "a mark takes each replica's first publication that " +
      'answers its snapshot request, and waits for every live one',
    () => {
      const store = new PublicationStore();
      store.put(publication('a', 'i', '7', subset(10, 0, []), subset(0, 0, [])));
      store.put(publication('b', 'i', '7', subset(20, 0, []), subset(0, 0, [])));
      const mark = store.mark(1);
      assert.deepEqual(
        [...mark.baselines.values()].map((p) => p.subsets['v1']!.finished),
        [10, 20],
      );
      store.put(publication('a', 'i', '9', subset(11, 0, []), subset(0, 0, [])));
      store.put(publication('a', 'i', '9', subset(15, 0, []), subset(0, 0, [])));
      store.requested(mark, '9');
      assert.deepEqual([mark.baselines.get('a')!.subsets['v1']!.finished, [...mark.answered]], [11, ['a']]);
      assert.equal(store.allAnswered(9n), false);
      store.remove('b');
      assert.equal(store.allAnswered(9n), true);
    },
  );
});

describe('the fleet rollout record', () => {
  const previous = { v1: 100, v2: 0 };
  const plan = planRollout('v2', [10, 50], previous);
  const window = { leader: 'r0', term: '5', id: 'w', openedAt: 0 };
  const record = withWindow(
    newRecord(
      'id-1',
      'r1',
      1_000,
      { subset: 'v2', steps: [10, 50], intervalMs: 100, analysis: { maxErrorRate: 0.01 } },
      plan,
      previous,
    ),
    window,
  );
  const figures = { periodMs: 100, calls: 10, failures: 0, errorRate: 0, p99Ms: null, waitedIntervals: 0 };

  it(
    "a passed step moves on with the next step's weights; the " +
      'last promotes; a failed step restores the weights from before',
    () => {
      const pass = (r: typeof record) =>
        concluded(r, { ...plan[r.step]!, figures, verdict: 'pass', reason: 'ok' }, 2_000, { ...window, id: 'w2' });
      const second = pass(record);
      assert.deepEqual(
        [second.record.step, second.record.state, second.record.window!.id, second.weights],
        [1, 'running', 'w2', { v1: 50, v2: 50 }],
      );
      const last = pass(second.record);
      assert.deepEqual(
        [
          last.record.state,
          last.record.result!.outcome,
          last.record.result!.reason,
          last.weights,
          last.record.result!.history.length,
        ],
        ['done', 'promoted', 'all 2 steps passed', { v1: 0, v2: 100 }, 2],
      );
      const failed = concluded(
        record,
        { ...plan[0]!, figures, verdict: 'fail', reason: 'error rate 50%' },
        2_000,
        window,
      );
      assert.deepEqual(
        [
          failed.record.result!.outcome,
          failed.record.result!.reason,
          failed.weights,
          failed.record.result!.durationMs,
        ],
        ['rolled-back', 'step 1 (10%): error rate 50%', previous, 1_000],
      );
      assert.deepEqual(ended(record, 'aborted', 'x', { v1: 1, v2: 0 }, 1_500).result!.weights, { v1: 1, v2: 0 });
    },
  );

  it("read back from etcd: a record or weights value that is not the fleet's is refused with the reason", () => {
    const json = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
    assert.equal(typeof decodeRecord(json), 'object');
    assert.equal(decodeRecord({ ...json, step: 2 }), '"step" is not a step of the plan');
    assert.equal(decodeRecord({ ...json, state: 'done' }), 'done without a "result"');
    assert.equal(decodeRecord({ ...json, format: 2 }), '"format" is not 1');
    assert.equal(
      decodeWeights({ weights: { v1: 1 }, replica: 'r', by: 'someone', at: 1 }),
      '"by" is not one of seed, operator, rollout',
    );
    assert.equal(decodeWeights(null), 'not a JSON object');
  });
});

describe('fleet options', () => {
  const client = { get() {}, getAll() {}, put() {}, if() {}, lease() {}, watch() {} };
  it('fills the defaults, and refuses each bad value naming its field', () => {
    const parsed = parseFleetOptions({ client, prefix: '/a/b' });
    assert.deepEqual(
      [parsed.leaseTtlSeconds, parsed.publishIntervalMs, parsed.figuresTimeoutMs, parsed.unreachableWarningMs],
      [10, 1000, 2000, 5000],
    );
    assert.match(parsed.replicaId, /^[A-Za-z0-9._:-]+-\d+-[0-9a-f]{6}$/);
    assert.throws(
      () => parseFleetOptions({ client: {}, prefix: '/a' }),
      /^TrafficSplitTypeError: client: expected an etcd3 client/,
    );
    assert.throws(
      () => parseFleetOptions({ client, prefix: '/a/' }),
      /prefix: expected a key prefix of 1 to 256 printable characters without a trailing "\/", got `"\/a\/"`/,
    );
    assert.throws(
      () => parseFleetOptions({ client, prefix: '/a', replicaId: 'a b' }),
      /replicaId: expected letters, digits/,
    );
    assert.throws(
      () => parseFleetOptions({ client, prefix: '/a', leaseTtlSeconds: 1 }),
      /leaseTtlSeconds: expected an integer from 2 to 3600, got `1`/,
    );
    assert.throws(() => parseFleetOptions({ client, prefix: '/a', leaseTTL: 5 }), /leaseTTL: unknown option/);
  });
});

describe('etcd reachability', () => {
  it('one change per outage however long, nothing for a stream that comes back within the grace period', () => {
    const clock = new FakeClock();
    const changes: [boolean, number, string][] = [];
    const reachability = new Reachability(clock, 2_000, (reachable, downFor, what) =>
      changes.push([reachable, downFor, what]),
    );
    reachability.watch(false);
    clock.advance(1_500);
    reachability.watch(true);
    clock.advance(5_000);
    assert.deepEqual(changes, []);
    reachability.watch(false);
    clock.advance(2_000);
    reachability.lease(false);
    reachability.watch(false);
    clock.advance(60_000);
    reachability.watch(true);
    assert.deepEqual(changes, [[false, 2_000, 'the watch stream is down']]);
    reachability.lease(true);
    assert.deepEqual(changes, [
      [false, 2_000, 'the watch stream is down'],
      [true, 0, ''],
    ]);
  });
});

describe('a fleet rollout', () => {
  class Handle extends EventEmitter<TrafficSplitEvents> implements SplitHandle {
    readonly name = 'h';
    readonly target = 't';
    readonly subsets = ['v1', 'v2'];
    readonly closed = false;
    setWeights(): void {}
    getWeights(): Record<string, number> {
      return { v1: 100, v2: 0 };
    }
    stats(): SplitStats {
      return stats(subset(0, 0, []), subset(0, 0, []));
    }
    setMirror(): void {}
    getMirror(): null {
      return null;
    }
    setMethodWeights(): void {}
    getMethodWeights(): Record<string, Record<string, number>> {
      return {};
    }
    mark(): StatsMark {
      return {} as StatsMark;
    }
    onCallEnded(): () => void {
      return () => {};
    }
  }

  it('refuses what cannot travel through etcd to the replica that will run it: a judge, a clock, a shadow phase', () => {
    const handle = new Handle();
    const core = {
      state: new FleetState(fleetKeys('/x')),
      replicaId: 'r',
      clock: new FakeClock(),
    } as unknown as FleetCore;
    hostRollouts(handle, new FleetRollouts(core));
    const options = { subset: 'v2', steps: [10], intervalMs: 100, analysis: { maxErrorRate: 0.01 } };
    assert.throws(
      () => startRollout(handle, { ...options, analysis: { maxErrorRate: 0.01, judge: () => true } }),
      /^TrafficSplitTypeError: analysis\.judge: expected no judge function in a fleet rollout/,
    );
    assert.throws(
      () => startRollout(handle, { ...options, clock: new FakeClock() }),
      /^TrafficSplitTypeError: clock: expected no clock in a fleet rollout/,
    );
    assert.throws(
      () => startRollout(handle, { ...options, shadow: { percent: 10 } }),
      /^TrafficSplitTypeError: shadow: expected no shadow phase in a fleet rollout/,
    );
  });
});

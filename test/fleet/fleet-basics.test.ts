/**
 * The fleet in one process, against a real etcd on loopback: two replicas (two splits, each with
 * its own etcd3 client) share weights, elect one leader, and a deposed leader's writes are
 * refused by etcd. The multi-process scenarios of the issue are in fleet-replicas.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startRollout } from '../../src/ops/index.js';
import type { FleetRolloutView } from '../../src/fleet/rollout/rollout-view.js';
import { transact } from '../../src/fleet/etcd/etcd.js';
import { FleetSession } from '../../src/fleet/etcd/session.js';
import { fleetKeys } from '../../src/fleet/etcd/keys.js';
import { EtcdCluster, skipWithoutEtcd } from '../helpers/etcd.js';
import { eventually } from '../helpers/split-helpers.js';
import { joinFleetMember, type FleetMember } from '../helpers/fleet-member.js';

let prefixes = 0;

describe('a fleet of two replicas in one process', { skip: skipWithoutEtcd(), timeout: 60_000 }, () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await EtcdCluster.start(1);
  });
  after(async () => {
    await etcd?.close();
  });

  /** A split (its subsets are never called here) joined to a fresh prefix. */
  function replica(
    t: TestContext,
    prefix: string,
    replicaId: string,
    weights = { v1: 100, v2: 0 },
  ): Promise<FleetMember> {
    return joinFleetMember(t, { hosts: etcd.hosts, prefix, replicaId, name: 'basics', weights });
  }

  it(
    'the first replica seeds the weights, the second applies ' +
      'them, and a change on either reaches both in revision order',
    async (t) => {
      const prefix = `/basics/${++prefixes}`;
      const a = await replica(t, prefix, 'a', { v1: 70, v2: 30 });
      const b = await replica(t, prefix, 'b', { v1: 100, v2: 0 });
      assert.deepEqual(
        [a.split.getWeights(), b.split.getWeights()],
        [
          { v1: 70, v2: 30 },
          { v1: 70, v2: 30 },
        ],
      );
      assert.deepEqual(
        [a.applied.map((x) => [x.replica, x.by]), b.applied.map((x) => [x.replica, x.by])],
        [[['a', 'seed']], [['a', 'seed']]],
      );
      const first = await b.fleet.setWeights({ v1: 10, v2: 90 });
      const second = await a.fleet.setWeights({ v1: 50, v2: 50 });
      assert.ok(BigInt(second) > BigInt(first));
      await eventually(
        () => a.applied.length === 3 && b.applied.length === 3,
        () => JSON.stringify([a.applied, b.applied]),
      );
      for (const { applied, split } of [a, b]) {
        assert.deepEqual(
          applied.slice(1).map((x) => [x.revision, x.replica, x.weights]),
          [
            [first, 'b', { v1: 10, v2: 90 }],
            [second, 'a', { v1: 50, v2: 50 }],
          ],
        );
        assert.deepEqual(split.getWeights(), { v1: 50, v2: 50 });
      }
      // Invalid weights throw where they are given; nothing reaches etcd.
      assert.throws(() => a.fleet.setWeights({ v1: -1, v2: 1 }), /weights\.v1: expected a finite number from 0 to/);
    },
  );

  it('a burst of revisions written straight to etcd, back to back: each replica applies every one, in order', async (t) => {
    const prefix = `/basics/${++prefixes}`;
    const a = await replica(t, prefix, 'a');
    const b = await replica(t, prefix, 'b');
    const keys = fleetKeys(prefix);
    // All at once: etcd orders them, and the watch delivers them in batches.
    const puts = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        a.client
          .put(keys.weights)
          .value(JSON.stringify({ weights: { v1: 99 - i, v2: i + 1 }, replica: 'test', by: 'operator', at: i }))
          .exec()
          .then((response) => ({ revision: response.header.revision, v2: i + 1 })),
      ),
    );
    const written = puts.sort((x, y) => Number(BigInt(x.revision) - BigInt(y.revision)));
    const last = written.at(-1)!;
    await eventually(
      () => [a, b].every(({ applied }) => applied.at(-1)?.revision === last.revision),
      () => JSON.stringify([a.applied.length, b.applied.length]),
    );
    for (const { applied, split } of [a, b]) {
      assert.deepEqual(
        applied.slice(1).map((x) => [x.revision, x.weights['v2']]),
        written.map((each) => [each.revision, each.v2]),
      );
      assert.deepEqual(split.getWeights(), { v1: 100 - last.v2, v2: last.v2 });
    }
  });

  it("a change of weights while a rollout runs ends the rollout in the same write, and the operator's weights stay", async (t) => {
    const prefix = `/basics/${++prefixes}`;
    const a = await replica(t, prefix, 'a');
    const b = await replica(t, prefix, 'b');
    const rollout = startRollout(a.fleet, {
      subset: 'v2',
      steps: [50],
      intervalMs: 200,
      analysis: { maxErrorRate: 0.01, minCalls: 1, maxWaitIntervals: 1000 },
    }) as FleetRolloutView;
    await eventually(
      () => b.split.getWeights()['v2'] === 50,
      () => JSON.stringify(rollout.toJSON()),
    );
    const revision = await b.fleet.setWeights({ v1: 70, v2: 30 });
    const result = await rollout.done;
    assert.deepEqual(
      [result.outcome, result.reason, result.weights],
      ['aborted', 'weights changed outside the rollout to {"v1":70,"v2":30}; they stay in force', { v1: 70, v2: 30 }],
    );
    // In the same transaction as the weights: not left to the leader to notice.
    const record = await b.client.get(fleetKeys(prefix).rollout).exec();
    assert.equal(record.kvs[0]!.mod_revision, revision);
    await eventually(
      () => a.applied.at(-1)?.revision === revision,
      () => JSON.stringify(a.applied.at(-1)),
    );
    assert.deepEqual(
      [a.split.getWeights(), b.split.getWeights()],
      [
        { v1: 70, v2: 30 },
        { v1: 70, v2: 30 },
      ],
    );
  });

  it(
    'exactly one replica leads; when its lease ends the other ' +
      'leads, and a write fenced by the old candidacy is refused',
    async (t) => {
      const prefix = `/basics/${++prefixes}`;
      const a = await replica(t, prefix, 'a');
      const b = await replica(t, prefix, 'b');
      await eventually(
        () => a.fleet.leaderStatus.leader === 'a' && b.fleet.leaderStatus.leader === 'a',
        () => JSON.stringify([a.fleet.leaderStatus, b.fleet.leaderStatus]),
      );
      assert.deepEqual([a.fleet.leaderStatus.leading, b.fleet.leaderStatus.leading], [true, false]);
      const oldFence = {
        key: a.fleet.session()!.candidateKey,
        target: 'Create' as const,
        revision: a.fleet.session()!.term,
      };
      const leaderChanged = once(b.fleet, 'leader');
      // a's lease ends at once (as when it expires): its candidacy goes, b's is now the oldest.
      await a.fleet.session()!.lease.revoke();
      await leaderChanged;
      await eventually(
        () => b.fleet.leaderStatus.leading,
        () => JSON.stringify(b.fleet.leaderStatus),
      );
      const keys = fleetKeys(prefix);
      const before = await a.client.get(keys.weights).string();
      const refused = await transact(
        a.client,
        [oldFence],
        [{ key: keys.weights, value: '{"deposed":true}' }],
        [oldFence.key],
      );
      assert.deepEqual([refused.succeeded, refused.read.get(oldFence.key)], [false, null]);
      assert.equal(await a.client.get(keys.weights).string(), before);
      // A new session of the same replica is a new candidate, behind b.
      const again = await FleetSession.open(a.client, keys, 'a-again', 2);
      t.after(() => again.close(true));
      assert.ok(BigInt(again.term) > BigInt(b.fleet.session()!.term));
    },
  );

  it(
    'a lone leader whose lease ended without its knowing: etcd refuses ' +
      'the next step it would write (fenced), nothing else would have',
    async (t) => {
      const prefix = `/basics/${++prefixes}`;
      const a = await replica(t, prefix, 'a');
      await eventually(
        () => a.fleet.leaderStatus.leading,
        () => JSON.stringify(a.fleet.leaderStatus),
      );
      // minCalls 0: the first step passes at its window's end, and the leader writes the next one.
      startRollout(a.fleet, {
        subset: 'v2',
        steps: [10, 50],
        intervalMs: 1_000,
        analysis: { maxErrorRate: 0.01, minCalls: 0 },
      });
      await eventually(
        () => a.split.getWeights()['v2'] === 10,
        () => JSON.stringify(a.split.getWeights()),
      );
      // Deaf (no watch), mute (no keepalive), and its lease revoked behind its back: nobody else
      // writes, so the record's and the weights' revisions it compares are still the current ones.
      await a.fleet.watch.stop();
      const session = a.fleet.session()!;
      session.lease.release();
      await a.client.leaseClient.leaseRevoke({ ID: session.leaseId });
      const keys = fleetKeys(prefix);
      const before = await a.client.get(keys.weights).exec();
      const [fenced] = (await once(a.fleet, 'fenced')) as [{ reason: string }];
      assert.match(fenced.reason, /write refused by etcd: candidacy .* of term \d+ is gone/);
      const after = await a.client.get(keys.weights).exec();
      assert.equal(after.kvs[0]!.mod_revision, before.kvs[0]!.mod_revision);
      assert.match(after.kvs[0]!.value.toString(), /"v2":10/);
    },
  );

  it(
    'a leader whose lease ended without its knowing: its next write is ' +
      'refused by etcd (fenced), and the other replica takes the step over',
    async (t) => {
      const prefix = `/basics/${++prefixes}`;
      const a = await replica(t, prefix, 'a');
      const b = await replica(t, prefix, 'b');
      await eventually(
        () => a.fleet.leaderStatus.leading && b.fleet.leaderStatus.leader === 'a',
        () => JSON.stringify([a.fleet.leaderStatus, b.fleet.leaderStatus]),
      );
      // No call is ever made: the step waits for its minCalls window after window, written by the leader.
      const rollout = startRollout(b.fleet, {
        subset: 'v2',
        steps: [50],
        intervalMs: 200,
        analysis: { maxErrorRate: 0.01, minCalls: 1, maxWaitIntervals: 1000 },
      }) as FleetRolloutView;
      await eventually(
        () => rollout.toJSON().leader === 'a' && b.split.getWeights()['v2'] === 50,
        () => JSON.stringify(rollout.toJSON()),
      );
      const stepRevision = b.applied.at(-1)!.revision;
      // a goes deaf and mute: no watch, no keepalive; then its lease is revoked behind its back.
      await a.fleet.watch.stop();
      const session = a.fleet.session()!;
      session.lease.release();
      await b.client.leaseClient.leaseRevoke({ ID: session.leaseId });
      const [fenced] = (await once(a.fleet, 'fenced')) as [{ reason: string }];
      assert.match(fenced.reason, /write refused by etcd: candidacy .* of term \d+ is gone/);
      assert.equal(a.fleet.leaderStatus.leading, true, 'a still believes it leads: only etcd stopped it');
      // b leads and opens a window of its own on the same step; the weights stay those a wrote.
      await eventually(
        () => rollout.toJSON().leader === 'b',
        () => JSON.stringify(rollout.toJSON()),
      );
      assert.deepEqual(
        [b.applied.at(-1)!.revision, b.applied.at(-1)!.replica, b.split.getWeights()],
        [stepRevision, 'a', { v1: 50, v2: 50 }],
      );
      const result = await rollout.abort('test over');
      assert.deepEqual([result.outcome, result.weights], ['aborted', { v1: 100, v2: 0 }]);
    },
  );
});

/**
 * The fleet against what others write into its keys, and against its own edges: foreign or
 * half-written values, overlapping prefixes, marks of another fleet, an admin change while etcd
 * is down, and an etcd that comes back empty (its revisions start again from 1).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { rmSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { startAdminServer } from '../../src/ops/index.js';
import { fleetKeys } from '../../src/fleet/etcd/keys.js';
import { EtcdCluster, skipWithoutEtcd } from '../helpers/etcd.js';
import { eventually } from '../helpers/split-helpers.js';
import { joinFleetMember, type FleetMember } from '../helpers/fleet-member.js';

let prefixes = 0;
const TOKEN = 'adversary-token-0123456789';

type Replica = FleetMember;

describe('a fleet against foreign writes and its own edges', { skip: skipWithoutEtcd(), timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await EtcdCluster.start(1);
  });
  after(async () => {
    await etcd?.close();
  });

  function replica(
    t: TestContext,
    prefix: string,
    replicaId: string,
    cluster = etcd,
    weights = { v1: 100, v2: 0 },
  ): Promise<Replica> {
    return joinFleetMember(t, {
      hosts: cluster.hosts,
      prefix,
      replicaId,
      name: 'adversary',
      weights,
      unreachableWarningMs: 500,
    });
  }

  it(
    "a fleet whose prefix lies under another fleet's keys (set " +
      'up before it) takes no part in its election or figures',
    async (t) => {
      const prefix = `/adv/${++prefixes}`;
      // Other fleets, set up first by someone else, under the election and figures prefixes of the
      // fleet at `prefix`: their keys are neither candidates nor replicas of that fleet.
      const other = await replica(t, `${prefix}/election`, 'other');
      const under = await replica(t, `${prefix}/replicas`, 'under');
      await eventually(
        () => other.fleet.leaderStatus.leading && under.fleet.leaderStatus.leading,
        () => JSON.stringify([other.fleet.leaderStatus, under.fleet.leaderStatus]),
      );
      const a = await replica(t, prefix, 'a');
      await eventually(
        () => a.fleet.replicas.includes('a'),
        () => JSON.stringify(a.fleet.replicas),
      );
      assert.deepEqual(a.fleet.leaderStatus, { leading: true, leader: 'a', term: a.fleet.session()!.term });
      assert.deepEqual(a.fleet.replicas, ['a']);
    },
  );

  it('stats({ since }) refuses a mark of another fleet, naming "since"', async (t) => {
    const a = await replica(t, `/adv/${++prefixes}`, 'a');
    const b = await replica(t, `/adv/${++prefixes}`, 'b');
    const mark = b.fleet.mark();
    assert.throws(() => a.fleet.stats({ since: mark }), /since: expected a mark of this fleet/);
    assert.throws(() => a.fleet.stats({ since: a.split.mark() }), /since: expected a mark of this fleet/);
  });

  it(
    'garbage in the weights key is skipped; nothing invalid ' +
      'reaches the split, and the next valid revision is applied',
    async (t) => {
      const prefix = `/adv/${++prefixes}`;
      const a = await replica(t, prefix, 'a');
      const keys = fleetKeys(prefix);
      const valid = (weights: unknown): string => JSON.stringify({ weights, replica: 'evil', by: 'operator', at: 1 });
      const garbage = [
        'not json',
        '[]',
        'null',
        '12345678901234567890123',
        valid({ v1: -5, v2: 105 }),
        valid({ v1: 50, v2: 50, v3: 0 }),
        valid({ v1: 50 }),
        valid({ v1: '50', v2: '50' }),
        // eslint-disable-next-line no-loss-of-precision -- an infinite literal on purpose
        valid({ v1: 1e400, v2: 0 }),
        // eslint-disable-next-line no-loss-of-precision -- an imprecise literal on purpose
        valid({ v1: 12345678901234567890, v2: 1 }),
        valid({ v1: 0, v2: 0 }),
        JSON.stringify({
          weights: { v1: 50, v2: 50 },
          replica: 'evil',
          by: 'operator',
          at: 1,
          rebalanceStreams: 'sometimes',
        }),
        JSON.stringify({ weights: { v1: 50, v2: 50 }, replica: 'evil', by: 'future', at: 1 }),
        valid({ v1: 50, v2: 50, ['__proto__']: 7 }).replace('"__proto__"', '"__proto__"'),
        `{"weights":{"v1":50,"v2":50},"replica":"evil","by":"operator","at":1,"pad":"${'x'.repeat(1_000_000)}"}`,
      ];
      for (const value of garbage) await a.client.put(keys.weights).value(value).exec();
      const last = await a.client
        .put(keys.weights)
        .value(valid({ v1: 30, v2: 70 }))
        .exec();
      await eventually(
        () => a.applied.at(-1)?.revision === last.header.revision,
        () => JSON.stringify(a.applied.map((x) => [x.revision, x.refused])),
      );
      assert.deepEqual(a.split.getWeights(), { v1: 30, v2: 70 });
      // setWeights() still works after it.
      await a.fleet.setWeights({ v1: 10, v2: 90 });
      assert.deepEqual(a.split.getWeights(), { v1: 10, v2: 90 });
    },
  );

  it(
    'a rollout record written by someone else with invalid step ' +
      'weights: the leader does not write them into the weights',
    async (t) => {
      const prefix = `/adv/${++prefixes}`;
      const a = await replica(t, prefix, 'a');
      await eventually(
        () => a.fleet.leaderStatus.leading,
        () => JSON.stringify(a.fleet.leaderStatus),
      );
      const keys = fleetKeys(prefix);
      const record = (plan: unknown): string =>
        JSON.stringify({
          format: 1,
          id: 'evil-1',
          startedBy: 'evil',
          startedAt: 0,
          options: { subset: 'v2', steps: [50], intervalMs: 60_000 },
          plan,
          previousWeights: { v1: 100, v2: 0 },
          state: 'running',
          step: 0,
          applied: false,
          waited: 0,
          lastWait: null,
          window: null,
          history: [],
          result: null,
        });
      const before = (await a.client.get(keys.weights).exec()).kvs[0]!.mod_revision;
      for (const plan of [
        [null],
        [{ step: 0, percent: 50 }],
        [{ step: 0, percent: 50, weights: { v1: -1, v2: 101 } }],
        [{ step: 0, percent: 50, weights: { v1: 50, v3: 50 } }],
      ]) {
        const put = await a.client.put(keys.rollout).value(record(plan)).exec();
        await a.fleet.watch.waitFor(BigInt(put.header.revision), 5_000);
      }
      // A valid write afterwards goes through: whatever the leader did meanwhile is settled by then.
      const ok = await a.fleet.setWeights({ v1: 60, v2: 40 });
      const weights = (await a.client.get(keys.weights).exec()).kvs[0]!;
      assert.equal(weights.mod_revision, ok);
      const rolloutWrites = a.applied.filter((x) => BigInt(x.revision) > BigInt(before) && x.by === 'rollout');
      assert.deepEqual(
        rolloutWrites.map((x) => [x.weights, x.refused]),
        [],
      );
      assert.deepEqual(a.split.getWeights(), { v1: 60, v2: 40 });
    },
  );

  it(
    'setWeights() racing from six replicas: each call resolves with its revision or ' +
      'rejects with ERR_FLEET_WRITE, and every replica ends on the last revision written',
    async (t) => {
      const prefix = `/adv/${++prefixes}`;
      const replicas: Replica[] = [];
      for (const id of ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']) replicas.push(await replica(t, prefix, id));
      const calls = replicas.flatMap((r, i) =>
        Array.from({ length: 5 }, (_, j) => r.fleet.setWeights({ v1: 100 - (i * 5 + j + 1), v2: i * 5 + j + 1 })),
      );
      const outcomes = await Promise.allSettled(calls);
      const rejected = outcomes
        .filter((o): o is PromiseRejectedResult => o.status === 'rejected')
        .map((o) => o.reason as Error & { code?: string });
      for (const error of rejected)
        assert.deepEqual([error.name, error.code], ['TrafficSplitFleetError', 'ERR_FLEET_WRITE'], error.stack);
      const written = outcomes
        .filter((o): o is PromiseFulfilledResult<string> => o.status === 'fulfilled')
        .map((o) => BigInt(o.value));
      assert.ok(written.length > 0);
      const last = written.reduce((a, b) => (a > b ? a : b)).toString();
      await eventually(
        () => replicas.every((r) => r.applied.at(-1)?.revision === last),
        () => JSON.stringify(replicas.map((r) => r.applied.at(-1)?.revision)),
      );
      const weights = replicas[0]!.split.getWeights();
      for (const r of replicas) {
        assert.deepEqual(r.split.getWeights(), weights);
        const revisions = r.applied.map((x) => BigInt(x.revision));
        assert.deepEqual(
          revisions,
          [...revisions].sort((a, b) => (a < b ? -1 : 1)),
        );
      }
    },
  );

  it(
    'PUT /weights on a fleet while etcd is down answers within ' +
      'its timeout with a clear error, and changes nothing',
    async (t) => {
      const own = await EtcdCluster.start(1);
      t.after(() => own.close());
      const prefix = `/adv/${++prefixes}`;
      const a = await replica(t, prefix, 'a', own);
      const admin = await startAdminServer(a.fleet, { port: 0, requestTimeoutMs: 3_000, token: TOKEN });
      t.after(() => admin.close());
      await own.stopAll('SIGKILL');
      const started = Date.now();
      const response = await fetch(`${admin.url}/weights`, {
        method: 'PUT',
        body: JSON.stringify({ v1: 50, v2: 50 }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await response.json()) as { code?: string; error?: string };
      const tookMs = Date.now() - started;
      assert.deepEqual([response.status, body.code], [503, 'ERR_FLEET_WRITE'], JSON.stringify(body));
      assert.match(body.error ?? '', /not written to etcd/);
      assert.ok(tookMs < 10_000, `answered after ${tookMs} ms`);
      assert.deepEqual(a.split.getWeights(), { v1: 100, v2: 0 });
    },
  );

  it('leave() while etcd is down resolves (no hang)', async (t) => {
    const own = await EtcdCluster.start(1);
    t.after(() => own.close());
    const a = await replica(t, `/adv/${++prefixes}`, 'a', own);
    await own.stopAll('SIGKILL');
    const started = Date.now();
    await a.fleet.leave();
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 10_000, `left after ${tookMs} ms`);
  });

  it(
    'etcd restarted with a wiped data dir (revisions start ' +
      "again from 1): the replica applies the new cluster's weights",
    async (t) => {
      const own = await EtcdCluster.start(1);
      t.after(() => own.close());
      const prefix = `/adv/${++prefixes}`;
      const keys = fleetKeys(prefix);
      const a = await replica(t, prefix, 'a', own);
      // Push the revision well past what the new cluster will reach.
      for (let i = 0; i < 30; i++) await a.fleet.setWeights({ v1: 100 - (i % 2), v2: i % 2 });
      const member = own.members[0]!;
      await member.stop('SIGKILL');
      rmSync(member.dataDir, { recursive: true, force: true });
      member.start();
      await own.healthy();
      const writer = new Etcd3({ hosts: own.hosts });
      t.after(() => writer.close());
      const put = await writer
        .put(keys.weights)
        .value(JSON.stringify({ weights: { v1: 20, v2: 80 }, replica: 'restore', by: 'operator', at: 1 }))
        .exec();
      await eventually(
        () => a.split.getWeights()['v2'] === 80,
        () => JSON.stringify({ put: put.header.revision, applied: a.applied.at(-1), weights: a.split.getWeights() }),
        15_000,
      );
      // And an operator's change through the fleet works on the new cluster.
      await a.fleet.setWeights({ v1: 40, v2: 60 });
      assert.deepEqual(a.split.getWeights(), { v1: 40, v2: 60 });
    },
  );
});

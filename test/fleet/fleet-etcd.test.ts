/**
 * The fleet when etcd itself is lost, with five replica processes on a three-member etcd cluster
 * and calls flowing through every replica: one member killed changes nothing; all members
 * stopped for 10 s changes nothing either (the replicas keep serving with the weights they
 * have, and say so once), and once etcd is back a change reaches every replica again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, skipWithoutEtcd, type EtcdMember } from '../helpers/etcd.js';
import { startCountingBackend, type CountingBackend } from '../helpers/fleet-backend.js';
import { startReplicas, stopReplicas, type ReplicaProcess } from '../helpers/fleet-replicas.js';

interface Tally {
  ok: number;
  failed: number;
  errors: string[];
}

/** The member that leads etcd's own raft group (killing it is the worst case for clients). */
async function raftLeader(cluster: EtcdCluster): Promise<EtcdMember> {
  for (const member of cluster.members) {
    const client = new Etcd3({ hosts: member.clientUrl });
    try {
      const status = await client.maintenance.status();
      if (status.leader === status.header.member_id) return member;
    } finally {
      client.close();
    }
  }
  throw new Error('no etcd member leads');
}

describe(
  'a fleet on a three-member etcd cluster that loses members',
  { skip: skipWithoutEtcd(), timeout: 300_000 },
  () => {
    let etcd: EtcdCluster;
    let v1: CountingBackend;
    let v2: CountingBackend;
    let replicas: ReplicaProcess[] = [];
    let change = 0;

    before(async () => {
      etcd = await EtcdCluster.start(3);
      [v1, v2] = await Promise.all([startCountingBackend('v1'), startCountingBackend('v2')]);
      replicas = await startReplicas(5, {
        hosts: etcd.hosts,
        prefix: '/fleet/etcd',
        subsets: { v1: v1.target, v2: v2.target },
        weights: { v1: 90, v2: 10 },
        leaseTtlSeconds: 3,
        publishIntervalMs: 500,
        figuresTimeoutMs: 1_000,
        unreachableWarningMs: 2_000,
      });
      await Promise.all(replicas.map((replica) => replica.request({ cmd: 'load', on: true })));
    });
    after(async () => {
      await stopReplicas(replicas);
      await Promise.all([v1?.stop(), v2?.stop()]);
      await etcd?.close();
    });

    /** Writes the next weights through `writer`; resolves with the revision and when it was asked. */
    async function changeWeights(
      writer: ReplicaProcess,
    ): Promise<{ revision: string; calledAt: number; weights: Record<string, number> }> {
      change++;
      const weights = { v1: 100 - change, v2: change };
      const { revision, calledAt } = await writer.request<{ revision: string; calledAt: number }>({
        cmd: 'setWeights',
        weights,
      });
      return { revision, calledAt, weights };
    }

    async function tallies(): Promise<Tally[]> {
      return Promise.all(replicas.map((replica) => replica.request<Tally>({ cmd: 'loadTally' })));
    }

    it('killing one of three members (the one raft leads with): calls and changes go on, and no replica warns', async () => {
      const victim = await raftLeader(etcd);
      await victim.stop('SIGKILL');
      const written = [];
      for (let i = 0; i < 10; i++) written.push(await changeWeights(replicas[i % replicas.length]!));
      for (const replica of replicas) {
        for (const { revision } of written) await replica.appliedRevision(revision);
        const operatorWrites = replica.applied().filter((each) => each.by === 'operator');
        assert.deepEqual(
          operatorWrites.map((each) => each.weights),
          written.map((each) => each.weights),
          replica.id,
        );
        assert.equal(
          replica.count('warning'),
          0,
          `${replica.id}: ${JSON.stringify(replica.reports.filter((r) => r.type === 'warning'))}`,
        );
      }
      for (const tally of await tallies()) assert.deepEqual([tally.failed, tally.errors], [0, []]);
      victim.start();
      await etcd.healthy();
    });

    it(
      'every member stopped for 10 s while calls flow: no call fails, the ' +
        'weights stay, one warning per replica; etcd back, a change reaches all',
      async () => {
        const before = await Promise.all(
          replicas.map((replica) => replica.request<Record<string, number>>({ cmd: 'weights' })),
        );
        const appliedBefore = replicas.map((replica) => replica.applied().length);
        const okBefore = (await tallies()).map((tally) => tally.ok);
        await etcd.stopAll('SIGTERM');
        const stoppedAt = Date.now();
        // Each replica says once that etcd is away (after unreachableWarningMs)...
        await Promise.all(
          replicas.map((replica) => replica.waitFor((report) => report.type === 'warning', 'the warning', 10_000)),
        );
        // ...and the outage lasts its 10 s (the scenario's length, not a synchronisation).
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + 10_000 - Date.now())));
        const during = await tallies();
        replicas.forEach((replica, i) => {
          assert.equal(
            replica.applied().length,
            appliedBefore[i],
            `${replica.id} applied nothing while etcd was away`,
          );
          assert.equal(
            replica.count('warning'),
            1,
            `${replica.id}: ${JSON.stringify(replica.reports.filter((r) => r.type === 'warning'))}`,
          );
          assert.deepEqual([during[i]!.failed, during[i]!.errors], [0, []], replica.id);
          assert.ok(
            during[i]!.ok > okBefore[i]!,
            `${replica.id}: calls went on (${okBefore[i]} then ${during[i]!.ok})`,
          );
        });
        assert.deepEqual(await Promise.all(replicas.map((replica) => replica.request({ cmd: 'weights' }))), before);

        await etcd.startAll();
        const healthyAt = Date.now();
        // The first write after the restart, through a replica whose client may still be reconnecting:
        // bounded retries of the write itself.
        let written: Awaited<ReturnType<typeof changeWeights>> | null = null;
        for (let attempt = 0; written === null; attempt++) {
          try {
            written = await changeWeights(replicas[2]!);
          } catch (error) {
            if (attempt >= 50) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
        const applied = await Promise.all(
          replicas.map((replica) => replica.appliedRevision(written.revision, 10_000)),
        );
        const allAppliedAt = Math.max(...applied.map((each) => each.at));
        console.log(
          `# fleet after a 10 s etcd outage: write to applied on all 5: ${allAppliedAt - written.calledAt} ` +
            `ms; etcd healthy to all applied: ${allAppliedAt - healthyAt} ms`,
        );
        for (const replica of replicas) {
          assert.deepEqual(await replica.request({ cmd: 'weights' }), written.weights);
          await replica.waitFor((report) => report.type === 'etcd' && report.reachable, 'etcd reachable again');
          assert.equal(replica.count('warning'), 1, replica.id);
        }
        for (const tally of await tallies()) assert.deepEqual([tally.failed, tally.errors], [0, []]);
      },
    );
  },
);

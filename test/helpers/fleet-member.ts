/** One replica in one process for the fleet tests: a split (its subsets are never called)
 * joined to a fleet on a real etcd, recording every change it applies; left when the test ends. */
import type { TestContext } from 'node:test';
import { Etcd3 } from 'etcd3';
import { TrafficSplit } from '../../src/index.js';
import { joinFleet, type Fleet, type FleetWeightsApplied } from '../../src/fleet/index.js';

export interface FleetMember {
  fleet: Fleet;
  split: TrafficSplit;
  applied: FleetWeightsApplied[];
  client: Etcd3;
}

export interface FleetMemberOptions {
  hosts: string[];
  prefix: string;
  replicaId: string;
  /** The split's name (logs). */
  name: string;
  weights?: Record<string, number>;
  unreachableWarningMs?: number;
}

export async function joinFleetMember(t: TestContext, options: FleetMemberOptions): Promise<FleetMember> {
  const client = new Etcd3({ hosts: options.hosts });
  const split = new TrafficSplit({
    name: options.name,
    subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' },
    weights: options.weights ?? { v1: 100, v2: 0 },
  });
  const applied: FleetWeightsApplied[] = [];
  const extra =
    options.unreachableWarningMs === undefined ? {} : { unreachableWarningMs: options.unreachableWarningMs };
  const fleet = await joinFleet(split, {
    client,
    prefix: options.prefix,
    replicaId: options.replicaId,
    leaseTtlSeconds: 2,
    publishIntervalMs: 200,
    ...extra,
  });
  if (fleet.applied !== null) applied.push(fleet.applied);
  fleet.on('applied', (change) => applied.push(change));
  t.after(async () => {
    await fleet.leave();
    split.close();
    client.close();
  });
  return { fleet, split, applied, client };
}

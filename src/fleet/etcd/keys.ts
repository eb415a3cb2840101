/**
 * Where a fleet keeps its state in etcd, all under the prefix given to `joinFleet()`:
 *
 * | key | value | lifetime |
 * | --- | --- | --- |
 * | `<prefix>/weights` | the weights in force and their writer (`WeightsValue`) | permanent; one revision per put |
 * | `<prefix>/rollout` | the fleet's latest rollout: plan, step, window, history, result | permanent |
 * | `<prefix>/snapshot` | a request to every replica to publish its figures now | permanent |
 * | `<prefix>/replicas/<replicaId>` | the replica's cumulative call figures | the replica's lease |
 * | `<prefix>/election/<leaseId>` | a candidate for leading the rollout; the oldest leads | the replica's lease |
 * @module
 */

/** The keys of one fleet. */
export interface FleetKeys {
  readonly prefix: string;
  readonly weights: string;
  readonly rollout: string;
  readonly snapshot: string;
  /** Prefix of the replicas' figures. */
  readonly replicas: string;
  /** Prefix of the election's candidates. */
  readonly election: string;
}

/** The keys under `prefix` (given without a trailing slash). */
export function fleetKeys(prefix: string): FleetKeys {
  return Object.freeze({
    prefix,
    weights: `${prefix}/weights`,
    rollout: `${prefix}/rollout`,
    snapshot: `${prefix}/snapshot`,
    replicas: `${prefix}/replicas/`,
    election: `${prefix}/election/`,
  });
}

/** etcd revisions travel as decimal strings (int64); compared as bigints. */
export function revision(value: string | number | bigint): bigint {
  return BigInt(value);
}

/**
 * `joinFleet()`: makes a split one replica of a fleet whose weights and rollout live in etcd.
 * @module
 */
import { TrafficSplitClosedError, typeErrorAt } from '../base/errors.js';
import type { SplitHandle } from '../split/fleet-port.js';
import { messageOf, TrafficSplitFleetError } from './errors.js';
import { Fleet } from './fleet.js';
import { parseFleetOptions, type FleetOptions } from './options.js';

/**
 * Joins `split` to the fleet kept in etcd under `options.prefix`, and resolves with the fleet
 * handle once the fleet's weights are in force on it (the first replica's split seeds them).
 * Use the handle where you used the split for operations: its `setWeights()` changes every
 * replica, its `stats()` sums them, and `startRollout(fleet, ...)` runs one rollout for the whole
 * fleet on the replica etcd elects. Every replica of a split joins with the same prefix and a
 * split with the same subsets.
 * @throws TrafficSplitTypeError / TrafficSplitRangeError for a bad option (nothing is written),
 * TrafficSplitClosedError for a closed split; rejects with TrafficSplitFleetError when etcd
 * cannot be read or written.
 * @example
 * const client = new Etcd3({ hosts: ['http://etcd-0:2379', 'http://etcd-1:2379', 'http://etcd-2:2379'] });
 * const fleet = await joinFleet(split, { client, prefix: '/traffic-split/reporter' });
 * startAdminServer(fleet, { port: 9901 }); // PUT /weights on any replica changes all of them
 */
export async function joinFleet(split: SplitHandle, options: FleetOptions): Promise<Fleet> {
  if (
    typeof split !== 'object' ||
    split === null ||
    typeof split.setWeights !== 'function' ||
    typeof split.stats !== 'function'
  ) {
    throw typeErrorAt('split', 'a TrafficSplit (or another SplitHandle)', split);
  }
  if (split.closed) throw new TrafficSplitClosedError(split.name, 'joinFleet()');
  const fleet = new Fleet(split, parseFleetOptions(options));
  try {
    await fleet.join();
  } catch (error) {
    await fleet.leave();
    throw new TrafficSplitFleetError(
      `fleet ${fleet.keys.prefix}: replica ${fleet.replicaId} could not join: ${messageOf(error)}`,
      'ERR_FLEET_JOIN',
      { cause: error },
    );
  }
  return fleet;
}

/**
 * What the parts of a fleet (weights, figures, leadership, rollout) share: the caller's split
 * and etcd client, the keys, this replica's view of them, and its session. Implemented by the
 * fleet handle (fleet.ts); the parts see only this.
 * @module
 */
import type { Clock } from '../../base/clock.js';
import type { SplitHandle, SplitStats } from '../../split/fleet-port.js';
import type { EtcdClient } from './etcd.js';
import type { FleetKeys } from './keys.js';
import type { ParsedFleetOptions } from '../options.js';
import type { FleetMark } from '../state/publications.js';
import type { FleetSession } from './session.js';
import type { FleetState } from '../state/state.js';
import type { FleetWatch } from './watch.js';

/** A change of who leads the fleet's rollouts. */
export interface FleetLeaderChange {
  /** This replica leads. */
  leading: boolean;
  /** The replica that leads, or null while there is none (or it is not known). */
  leader: string | null;
  /** Its term: the etcd revision of its candidacy; every write it makes as leader carries it. */
  term: string | null;
}

export interface FleetCore {
  readonly client: EtcdClient;
  readonly keys: FleetKeys;
  readonly replicaId: string;
  readonly split: SplitHandle;
  readonly clock: Clock;
  readonly options: ParsedFleetOptions;
  readonly state: FleetState;
  readonly watch: FleetWatch;
  /** The replica's session, or null while it has none (lost, and not granted again yet). */
  session(): FleetSession | null;
  /** The fleet's figures (the sum of every live replica's), for life or since a mark. */
  figures(since: FleetMark | null): SplitStats;
  /** Tells the fleet handle's listeners that a leader's write was refused. */
  fenced(reason: string): void;
}

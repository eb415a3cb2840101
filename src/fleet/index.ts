/**
 * grpc-traffic-split/fleet: one set of weights and one rollout decision for every replica of a
 * split, kept in etcd. A separate entry point with `etcd3` as an optional peer: the library
 * never loads `etcd3` itself (you pass your client), and neither the core nor `/ops` loads this.
 * @module
 */
export { joinFleet } from './join.js';
export { Fleet } from './fleet.js';
export type { FleetEvents } from './fleet.js';
export type { FleetOptions } from './options.js';
export {
  DEFAULT_LEASE_TTL_SECONDS,
  DEFAULT_PUBLISH_INTERVAL_MS,
  DEFAULT_FIGURES_TIMEOUT_MS,
  DEFAULT_UNREACHABLE_WARNING_MS,
} from './options.js';
export type { FleetLeaderChange } from './etcd/core.js';
export type { FleetWeightsApplied } from './state/weights.js';
export type { FleetRolloutStatus } from './rollout/rollout-view.js';
export type { WeightsValue, WeightsWriter } from './state/weights-value.js';
export { TrafficSplitFleetError } from './errors.js';
export type { TrafficSplitFleetErrorCode } from './errors.js';

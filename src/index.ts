/**
 * grpc-traffic-split: per-call weighted traffic splitting inside a @grpc/grpc-js client.
 * @module
 */
export { TrafficSplit } from './traffic-split.js';
export type {
  TrafficSplitOptions,
  TrafficSplitEvents,
  SplitStats,
  SubsetStats,
  ConnectivityStateName,
  StatusName,
  StatsMark,
} from './traffic-split.js';
export type { RouteRequest } from './interceptor.js';
export type { RouteRuleJson } from './rules.js';
export { STICKY_HASH_VERSION } from './sticky-hash.js';
export { register } from './register.js';
export { parseConfig } from './config.js';
export type { TrafficSplitConfigJson } from './config.js';
export { POLICY_NAME, TARGET_SCHEME, DEFAULT_RERESOLVE_INTERVAL_MS, MAX_WEIGHT } from './constants.js';
export { TrafficSplitTypeError, TrafficSplitRangeError, TrafficSplitClosedError } from './errors.js';
export type { TrafficSplitErrorCode } from './errors.js';
export { WeightedSchedule } from './scheduler.js';

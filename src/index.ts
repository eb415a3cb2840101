/**
 * grpc-traffic-split: per-call weighted traffic splitting inside a @grpc/grpc-js client.
 * @module
 */
export { TrafficSplit } from './split/traffic-split.js';
export type { TrafficSplitOptions } from './split/traffic-split.js';
export type { SplitHandle } from './split/handle.js';
export type {
  TrafficSplitEvents,
  SplitStats,
  SubsetStats,
  ConnectivityStateName,
  TrafficSplitSummary,
  StatusName,
  StatsMark,
  SetWeightsOptions,
} from './split/types.js';
export type { RebalanceStreamsOptions } from './algorithms/stream-ender.js';
export type { RouteRequest } from './policy/interceptor.js';
export type { RouteRuleJson } from './algorithms/rules.js';
export { STICKY_HASH_VERSION } from './algorithms/sticky-hash.js';
export { register } from './policy/register.js';
export { parseConfig } from './policy/config.js';
export type { TrafficSplitConfigJson } from './policy/config.js';
export { POLICY_NAME, TARGET_SCHEME, DEFAULT_RERESOLVE_INTERVAL_MS, MAX_WEIGHT, MIN_WEIGHT } from './base/constants.js';
export { TrafficSplitTypeError, TrafficSplitRangeError, TrafficSplitClosedError, TrafficSplitRolloutError } from './base/errors.js';
export { TrafficSplitUnsupportedGrpcError, TrafficSplitTelemetryError } from './base/errors.js';
export { SUPPORTED_GRPC_JS_RANGE } from './policy/grpc-version.js';
export type { TrafficSplitErrorCode } from './base/errors.js';
export { WeightedSchedule } from './algorithms/scheduler.js';
export type { WeightedScheduleOptions } from './algorithms/scheduler.js';
export type { RandomSource } from './algorithms/random.js';
export type { Clock, ClockTimer } from './base/clock.js';
export type { MirrorOptions, MirrorSettings, MirrorComparator, MirrorOutcome } from './policy/mirror-options.js';
export type { MirrorStats, MirrorCounts, MirrorSample, MirrorSampleSide, MirrorDropReason } from './policy/mirror-figures.js';
export type { MirrorDecoder, MirrorNoiseOptions, MirrorNoiseSettings } from './policy/mirror-noise-options.js';
export type { MirrorFieldStats, MirrorNoiseStats } from './policy/mirror-noise.js';

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
  MethodStats,
  StreamStats,
  CallEnded,
  CallEndedListener,
  ConnectivityStateName,
  TrafficSplitSummary,
  StatusName,
  StatsMark,
  SetWeightsOptions,
} from './split/types.js';
export type { RebalanceStreamsOptions } from './algorithms/streams/stream-ender.js';
export type { MethodFiguresOptions } from './algorithms/method-names.js';
export type { RouteRequest } from './policy/call/route-options.js';
export type { RouteRuleJson, MethodMatchJson, HeaderMatchJson } from './algorithms/routing/rules.js';
export { STICKY_HASH_VERSION } from './algorithms/routing/sticky-hash.js';
export { register } from './policy/balancer/register.js';
export { parseConfig } from './policy/balancer/config.js';
export type { TrafficSplitConfigJson } from './policy/balancer/config.js';
export {
  POLICY_NAME,
  TARGET_SCHEME,
  DEFAULT_RERESOLVE_INTERVAL_MS,
  MAX_WEIGHT,
  MIN_WEIGHT,
} from './base/constants.js';
export {
  TrafficSplitTypeError,
  TrafficSplitRangeError,
  TrafficSplitClosedError,
  TrafficSplitRolloutError,
} from './base/errors.js';
export { TrafficSplitUnsupportedGrpcError, TrafficSplitTelemetryError } from './base/errors.js';
export { SUPPORTED_GRPC_JS_RANGE } from './policy/grpc/grpc-version.js';
export type { TrafficSplitErrorCode } from './base/errors.js';
export { WeightedSchedule } from './algorithms/schedule/scheduler.js';
export type { WeightedScheduleOptions } from './algorithms/schedule/scheduler.js';
export type { RandomSource } from './algorithms/random.js';
export type { Clock, ClockTimer } from './base/clock.js';
export type {
  MirrorOptions,
  MirrorSettings,
  MirrorComparator,
  MirrorOutcome,
} from './policy/mirror/mirror-options.js';
export type {
  MirrorStats,
  MirrorCounts,
  MirrorSample,
  MirrorSampleSide,
  MirrorDropReason,
} from './policy/mirror/mirror-figures.js';
export type {
  MirrorDecoder,
  MirrorNoiseOptions,
  MirrorNoiseSettings,
} from './policy/mirror/noise/mirror-noise-options.js';
export type { MirrorFieldStats, MirrorNoiseStats } from './policy/mirror/noise/mirror-noise.js';

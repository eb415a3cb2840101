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
  TrafficSplitSummary,
  StatusName,
  StatsMark,
} from './traffic-split.js';
export type { RouteRequest } from './interceptor.js';
export type { MirrorOptions, MirrorSettings, MirrorComparator, MirrorOutcome } from './mirror-options.js';
export type { MirrorStats, MirrorCounts, MirrorSample, MirrorSampleSide } from './mirror-figures.js';
export type { RouteRuleJson } from './rules.js';
export { STICKY_HASH_VERSION } from './sticky-hash.js';
export { register } from './register.js';
export { parseConfig } from './config.js';
export type { TrafficSplitConfigJson } from './config.js';
export { POLICY_NAME, TARGET_SCHEME, DEFAULT_RERESOLVE_INTERVAL_MS, MAX_WEIGHT, MIN_WEIGHT } from './constants.js';
export { TrafficSplitTypeError, TrafficSplitRangeError, TrafficSplitClosedError, TrafficSplitRolloutError } from './errors.js';
export { TrafficSplitUnsupportedGrpcError, TrafficSplitTelemetryError } from './errors.js';
export { instrumentTrafficSplit, TELEMETRY_SCOPE } from './otel.js';
export type { TrafficSplitTelemetry, TrafficSplitTelemetryOptions, OpenTelemetryApiLike, MeterProviderLike } from './otel.js';
export type { SpanLike } from './otel-trace.js';
export { SUPPORTED_GRPC_JS_RANGE } from './grpc-version.js';
export type { TrafficSplitErrorCode } from './errors.js';
export { WeightedSchedule } from './scheduler.js';
export type { WeightedScheduleOptions } from './scheduler.js';
export type { RandomSource } from './random.js';
export { startRollout, activeRollout, DEFAULT_FAILURE_CODES } from './rollout.js';
export type {
  Rollout,
  RolloutOptions,
  RolloutAnalysis,
  RolloutEvents,
  RolloutFigures,
  RolloutOutcome,
  RolloutResult,
  RolloutState,
  RolloutStatus,
  RolloutStepPlan,
  RolloutStepRecord,
  RolloutStepStats,
  RolloutWait,
  RolloutComparison,
  RolloutShadowOptions,
  ShadowFigures,
  ShadowRecord,
} from './rollout.js';
export { judgeCanary } from './canary-judge.js';
export type { CanaryJudgeOptions, CanaryVerdict, CanarySide, CanaryWindow } from './canary-judge.js';
export type { Clock, ClockTimer } from './clock.js';
export { startAdminServer } from './admin-server.js';
export type { AdminErrorCode, AdminServer, AdminServerOptions } from './admin-server.js';
export { DEFAULT_RUNTIME_PREFIX } from './runtime-modify.js';
export { renderPrometheusMetrics, PROMETHEUS_CONTENT_TYPE } from './split-metrics.js';
export { watchWeightsFile } from './weights-file.js';
export type { WeightsFileWatcher, WeightsFileOptions, WeightsFileEvents } from './weights-file.js';

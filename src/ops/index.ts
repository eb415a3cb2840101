/**
 * grpc-traffic-split/ops: the operations built on a split's public handle: automated rollout
 * with canary analysis, the admin endpoint, the weights file watcher, Prometheus text and
 * OpenTelemetry instruments. A separate entry point, so an application that only splits loads
 * none of it.
 * @module
 */
export { instrumentTrafficSplit, TELEMETRY_SCOPE } from './telemetry/otel.js';
export type {
  TrafficSplitTelemetry,
  TrafficSplitTelemetryOptions,
  OpenTelemetryApiLike,
  MeterProviderLike,
} from './telemetry/otel.js';
export type { SpanLike } from './telemetry/otel-trace.js';
export { startRollout, activeRollout, DEFAULT_FAILURE_CODES } from './rollout/rollout.js';
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
  ShadowNoise,
  ShadowRecord,
} from './rollout/rollout.js';
export { judgeCanary } from './rollout/canary-judge.js';
export type { CanaryJudgeOptions, CanaryVerdict, CanarySide, CanaryWindow } from './rollout/canary-judge.js';
export { startAdminServer } from './admin/admin-server.js';
export type { AdminErrorCode, AdminServer, AdminServerOptions } from './admin/admin-server.js';
export { DEFAULT_RUNTIME_PREFIX } from './admin/runtime-modify.js';
export { renderPrometheusMetrics, PROMETHEUS_CONTENT_TYPE } from './telemetry/split-metrics.js';
export { METRICS, METRIC_LABELS, NOT_FIGURES, readMetricFigures } from './telemetry/metrics-catalogue.js';
export type {
  MetricDefinition,
  MetricFigures,
  MetricLabel,
  MetricSample,
  OtelInstrument,
} from './telemetry/metrics-catalogue.js';
export { watchWeightsFile } from './admin/weights-file.js';
export type { WeightsFileWatcher, WeightsFileOptions, WeightsFileEvents } from './admin/weights-file.js';

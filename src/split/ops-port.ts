/**
 * Everything the operations layer (src/ops) uses from the layers below, in one place: the
 * handle's narrow interface and public types, the telemetry port, the gRPC enums and the
 * library's log lines. The layering check lets src/ops import this file and src/base and
 * src/algorithms, nothing else of the library.
 * @module
 */
export type { SplitHandle } from './handle.js';
export type {
  CallEnded,
  CallEndedListener,
  ConnectivityStateName,
  SetWeightsOptions,
  SplitStats,
  StatsMark,
  StatusName,
  SubsetStats,
  MethodStats,
  StreamStats,
  TrafficSplitEvents,
} from './types.js';
export { telemetryPortOf } from '../policy/call/telemetry-port.js';
export type {
  FinishListener,
  StreamMessageListener,
  SubsetObserver,
  TelemetryPort,
} from '../policy/call/telemetry-port.js';
export { ConnectivityState, Status } from '../policy/grpc/grpc.js';
export { CODE_COUNT } from '../policy/call/counters.js';
export { emitClientWarning, logError } from '../policy/grpc/logging.js';
export { mirrorSettingsJson, settingsToOptions } from '../policy/mirror/mirror-options.js';
export type { MirrorComparator, MirrorOptions, MirrorSettings } from '../policy/mirror/mirror-options.js';
export type { MirrorCounts, MirrorStats } from '../policy/mirror/mirror-figures.js';
export { checkNoiseWeight, parseNoiseOptions } from '../policy/mirror/noise/mirror-noise-options.js';
export type { MirrorNoiseOptions, MirrorNoiseSettings } from '../policy/mirror/noise/mirror-noise-options.js';
export { fieldsSince } from '../policy/mirror/noise/mirror-noise.js';
export type { MirrorFieldStats, MirrorNoiseStats } from '../policy/mirror/noise/mirror-noise.js';

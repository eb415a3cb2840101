/**
 * OpenTelemetry for a split: per-subset metrics and the serving subset on each call's span.
 * `@opentelemetry/api` is an optional peer dependency: nothing here loads it until
 * `instrumentTrafficSplit()` is called, and no type of it appears in this package's declarations,
 * so applications without it neither load nor type-check against it.
 * @module
 */
import type { Meter } from '@opentelemetry/api';
import { TrafficSplitTelemetryError, typeErrorAt } from '../../base/errors.js';
import { telemetryPortOf, type SplitStats } from '../../split/ops-port.js';
import { loadOpenTelemetryApi } from './otel-api.js';
import { startSplitMetrics } from './otel-metrics.js';
import { spanAnnotator, type SpanLike } from './otel-trace.js';

/** The meter provider to create the split's meter from (any OpenTelemetry `MeterProvider`). */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): object;
}

/** The parts of the `@opentelemetry/api` module used: pass the module itself. */
export interface OpenTelemetryApiLike {
  metrics: { getMeterProvider(): MeterProviderLike };
  trace: { getActiveSpan(): SpanLike | undefined };
}

/** Options of `instrumentTrafficSplit()`. */
export interface TrafficSplitTelemetryOptions {
  /**
   * The `@opentelemetry/api` module, e.g. `await import('@opentelemetry/api')`. Pass it when the
   * application's copy is not the one this package would load (several copies).
   * @default the `@opentelemetry/api` resolved from this package's folder (or from the bundle's
   * folder, in a bundle), loaded on first use in a way bundlers do not follow
   */
  api?: OpenTelemetryApiLike;
  /** @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProviderLike;
  /** Report per-subset metrics. @default true */
  metrics?: boolean;
  /**
   * Set `grpc.lb.traffic_split.subset` on the active span of each call that starts while a
   * recording span is active (the active span where the call is made).
   * Costs one observer on each such call's context (no pick takes the routed path for it).
   * @default true
   */
  tracing?: boolean;
}

/** A running instrumentation; `stop()` removes it (also done by `split.close()`). */
export interface TrafficSplitTelemetry {
  stop(): void;
}

/** The instrumentation scope name of the split's meter. */
export const TELEMETRY_SCOPE = 'grpc-traffic-split';

/** The part of a TrafficSplit instrumentation needs. */
interface InstrumentableSplit {
  readonly target: string;
  readonly subsets: readonly string[];
  stats(): SplitStats;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/**
 * Reports a split's per-subset figures as OpenTelemetry instruments and tags the active span of
 * each call with the subset that served it. One instrument per entry of the metrics catalogue
 * with an OpenTelemetry name (`docs/operations.md#metrics-reference` lists them), each labelled
 * `grpc.target` and, per subset, `grpc.lb.traffic_split.subset`; the observable ones are read
 * from `split.stats()` at each collection, `grpc.lb.traffic_split.attempt.duration` (histogram,
 * `s`, by `grpc.status`) is recorded as each attempt finishes.
 * Rejects with `ERR_SPLIT_OTEL_API_MISSING` when `@opentelemetry/api` cannot be imported.
 * @example
 * import { instrumentTrafficSplit } from 'grpc-traffic-split/ops';
 * const telemetry = await instrumentTrafficSplit(split); // global MeterProvider and context
 * // ... later, or implied by split.close():
 * telemetry.stop();
 */
export async function instrumentTrafficSplit(
  split: InstrumentableSplit,
  options: TrafficSplitTelemetryOptions = {},
): Promise<TrafficSplitTelemetry> {
  const port = telemetryPortOf(split);
  if (port === undefined) throw typeErrorAt('split', 'a TrafficSplit', split);
  if (port.closed)
    throw new TrafficSplitTelemetryError(
      `instrumentTrafficSplit: split "${port.splitName}" is closed`,
      'ERR_SPLIT_CLOSED',
    );
  const api = options.api ?? (loadOpenTelemetryApi() as OpenTelemetryApiLike);
  const stops: (() => void)[] = [];
  if (options.metrics !== false) {
    const provider = options.meterProvider ?? api.metrics.getMeterProvider();
    stops.push(startSplitMetrics(provider.getMeter(TELEMETRY_SCOPE) as Meter, split, port));
  }
  if (options.tracing !== false) {
    stops.push(port.observeCallSubsets(spanAnnotator(split.subsets, () => api.trace.getActiveSpan())));
  }
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    split.off('close', stop);
    for (const each of stops) each();
  };
  split.once('close', stop);
  return { stop };
}

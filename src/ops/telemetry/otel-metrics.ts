/**
 * OpenTelemetry instruments of one split, one per entry of the metrics catalogue, named after
 * gRPC's own OpenTelemetry conventions: per-attempt figures as in gRFC A66
 * (`.attempt.started` and `.duration`, seconds, A66's latency buckets), load-balancing-policy
 * figures under `grpc.lb.<policy>.` as in gRFC A78, and the subset as a per-call label in the
 * manner of A78's `grpc.lb.locality` and A89's `grpc.lb.backend_service`.
 * @module
 */
import type { Attributes, BatchObservableResult, Histogram, Meter, Observable } from '@opentelemetry/api';
import { CODE_COUNT, Status, type SplitStats, type TelemetryPort } from '../../split/ops-port.js';
import {
  METRIC_LABELS,
  METRICS,
  readMetricFigures,
  type MetricDefinition,
  type MetricSample,
  type RecordedFigure,
} from './metrics-catalogue.js';
import { methodLabel } from './catalogue-methods.js';

/** Attribute naming the subset a figure belongs to. */
export const SUBSET_ATTRIBUTE = METRIC_LABELS.subset.otel;

/** gRFC A66's latency buckets, in seconds. */
const A66_LATENCY_BUCKETS_S = [
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.013,
  0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10,
  20, 50, 100,
];

/** What the instruments need to know of the split besides its telemetry port. */
export interface MeteredSplit {
  readonly target: string;
  readonly subsets: readonly string[];
  /** Every observed figure is read from here at each collection. */
  stats(): SplitStats;
}

/** An observable instrument with the catalogue entry it reports. */
interface Observed {
  instrument: Observable;
  metric: MetricDefinition;
}

/** Creates the instruments and starts feeding them; returns the function that stops it. */
export function startSplitMetrics(meter: Meter, split: MeteredSplit, port: TelemetryPort): () => void {
  const target = split.target;
  const observed: Observed[] = [];
  const histograms: Partial<Record<RecordedFigure, Histogram>> = {};
  for (const metric of METRICS) {
    if (metric.otel === null) continue;
    const options = { unit: metric.unit, description: metric.help };
    const { name, instrument } = metric.otel;
    if (instrument === 'histogram')
      histograms[metric.records ?? 'attemptDuration'] = meter.createHistogram(name, {
        ...options,
        advice: { explicitBucketBoundaries: A66_LATENCY_BUCKETS_S },
      });
    else if (instrument === 'counter')
      observed.push({ metric, instrument: meter.createObservableCounter(name, options) });
    else if (instrument === 'upDownCounter')
      observed.push({ metric, instrument: meter.createObservableUpDownCounter(name, options) });
    else observed.push({ metric, instrument: meter.createObservableGauge(name, options) });
  }
  const observe = (result: BatchObservableResult): void => {
    const figures = readMetricFigures(split);
    for (const { metric, instrument } of observed) {
      for (const sample of metric.read?.(figures) ?? [])
        result.observe(instrument, sample.value, attributesOf(target, metric, sample));
    }
  };
  const observables = observed.map((o) => o.instrument);
  meter.addBatchObservableCallback(observe, observables);
  const stopAttempts = port.onAttemptFinished(attemptRecorder(histograms, target, split.subsets, port));
  const stopStreams = port.onStreamMessage(streamRecorder(histograms, target, split.subsets, port));
  return () => {
    meter.removeBatchObservableCallback(observe, observables);
    stopAttempts();
    stopStreams();
  };
}

function attributesOf(target: string, metric: MetricDefinition, sample: MetricSample): Attributes {
  const attributes: Attributes = { 'grpc.target': target };
  for (const label of metric.labels) attributes[METRIC_LABELS[label].otel] = sample.labels[label] ?? '';
  return attributes;
}

/** Records each finished attempt's duration, and a unary call's in the unary histogram too.
 * Attribute sets per (method, subset, status) are built on first use, so recording allocates
 * nothing; the methods are the bounded ones of `stats()` (slot -1, per-method figures off, is
 * `other`). */
function attemptRecorder(
  histograms: Partial<Record<RecordedFigure, Histogram>>,
  target: string,
  subsets: readonly string[],
  port: Pick<TelemetryPort, 'methodName'>,
): (subset: number, code: number, durationMs: number, method: number, streaming: boolean) => void {
  const { attemptDuration: duration, unaryAttemptDuration: unary } = histograms;
  // By method slot + 1, then by subset * CODE_COUNT + code.
  const byMethod: (Attributes | undefined)[][] = [];
  return (subset, code, durationMs, method, streaming) => {
    const codeSlot = code >= 0 && code < CODE_COUNT ? code : Status.UNKNOWN;
    const slot = subset * CODE_COUNT + codeSlot;
    const finishedAttributes = (byMethod[method + 1] ??= new Array(subsets.length * CODE_COUNT).fill(undefined));
    let attributes = finishedAttributes[slot];
    if (attributes === undefined) {
      attributes = {
        'grpc.target': target,
        [SUBSET_ATTRIBUTE]: subsets[subset]!,
        [METRIC_LABELS.method.otel]: methodLabel(port.methodName(method)),
        [METRIC_LABELS.code.otel]: Status[codeSlot],
      };
      finishedAttributes[slot] = attributes;
    }
    duration?.record(durationMs / 1000, attributes);
    if (!streaming) unary?.record(durationMs / 1000, attributes);
  };
}

/** Records each stream's time to first message and each gap between its messages, with
 * attribute sets per (method, subset) built on first use. */
function streamRecorder(
  histograms: Partial<Record<RecordedFigure, Histogram>>,
  target: string,
  subsets: readonly string[],
  port: Pick<TelemetryPort, 'methodName'>,
): (subset: number, gap: boolean, ms: number, method: number) => void {
  const { firstMessage, messageGap } = histograms;
  // By method slot + 1, then by subset.
  const byMethod: (Attributes | undefined)[][] = [];
  return (subset, gap, ms, method) => {
    const perSubset = (byMethod[method + 1] ??= new Array(subsets.length).fill(undefined));
    const attributes = (perSubset[subset] ??= {
      'grpc.target': target,
      [SUBSET_ATTRIBUTE]: subsets[subset]!,
      [METRIC_LABELS.method.otel]: methodLabel(port.methodName(method)),
    });
    (gap ? messageGap : firstMessage)?.record(ms / 1000, attributes);
  };
}

/**
 * The shape of the metrics catalogue (metrics-catalogue.ts): one entry per figure, with its
 * names for Prometheus and OpenTelemetry, its unit, help, labels and how it is read.
 * @module
 */
import type { RolloutComparison } from '../rollout/rollout-types.js';
import type { SplitStats } from '../../split/ops-port.js';

/** A label of the catalogue; `LABELS` gives its Prometheus name and OpenTelemetry attribute. */
export type MetricLabel =
  | 'subset'
  | 'method'
  | 'state'
  | 'code'
  | 'quantile'
  | 'baseline'
  | 'test'
  | 'effect'
  | 'outcome'
  | 'side'
  | 'reason'
  | 'field';

/** What every figure is read from at collection time. */
export interface MetricFigures {
  stats: SplitStats;
  /** The running rollout's subset and percent, if a rollout runs. */
  rollout: { subset: string; percent: number } | undefined;
  /** The latest rollout's last comparison with a baseline, if any. */
  comparison: RolloutComparison | undefined;
}

/** One value with its labels (every label of its entry, the split's own apart). */
export interface MetricSample {
  labels: Partial<Record<MetricLabel, string>>;
  value: number;
}

/** OpenTelemetry instrument kinds; the observable ones are read at collection time. */
export type OtelInstrument = 'counter' | 'upDownCounter' | 'gauge' | 'histogram';

/** What an OpenTelemetry histogram records, as it happens: the duration of each finished
 * attempt (of every call, or of unary calls only), each stream's time to first message, each
 * gap between a stream's messages. */
export type RecordedFigure = 'attemptDuration' | 'unaryAttemptDuration' | 'firstMessage' | 'messageGap';

/** One figure. A side is null when another entry exports the same `stats()` paths there. */
export interface MetricDefinition {
  prometheus: { name: string; type: 'counter' | 'gauge' } | null;
  otel: { name: string; instrument: OtelInstrument } | null;
  /** UCUM, as OpenTelemetry wants it (`s`, `By`, `%`, `1`, `{attempt}`); Prometheus puts it in the name. */
  unit: string;
  help: string;
  /** Labels besides the split's own (`split` in Prometheus, `grpc.target` in OpenTelemetry), in order. */
  labels: readonly MetricLabel[];
  /** The `stats()` paths it exports: dot-separated keys, `*` for a record's keys (subsets,
   * status codes), `[]` for an array's items; a path covers everything beneath it. */
  from: readonly string[];
  /** Its samples; null for a histogram, recorded as it happens (`records`). */
  read: ((figures: MetricFigures) => MetricSample[]) | null;
  /** What a histogram records (with `read: null`). */
  records?: RecordedFigure;
}

/** Quantile samples in seconds from milliseconds (none for a quantile not known yet). */
export function quantileSamples(
  ms: { p50: number | null; p90: number | null; p99: number | null },
  labels: MetricSample['labels'],
): MetricSample[] {
  const quantiles: [string, number | null][] = [
    ['0.5', ms.p50],
    ['0.9', ms.p90],
    ['0.99', ms.p99],
  ];
  return quantiles.flatMap(([quantile, value]) =>
    value === null ? [] : [{ labels: { ...labels, quantile }, value: value / 1000 }],
  );
}

/**
 * The metrics catalogue: every figure a split exports, declared once. The Prometheus text
 * (split-metrics.ts), the OpenTelemetry instruments (otel-metrics.ts) and the prom-client example
 * render from this list, and a test fails when a `stats()` figure has no entry here. To add a
 * figure: add it to `stats()`, then one entry here (catalogue-subsets.ts, catalogue-streams.ts,
 * catalogue-methods.ts or catalogue-mirror.ts).
 * @module
 */
import type { SplitHandle, SplitStats } from '../../split/ops-port.js';
import { activeRollout, lastComparison } from '../rollout/rollout.js';
import { METHOD_METRICS } from './catalogue-methods.js';
import { MIRROR_METRICS } from './catalogue-mirror.js';
import { STREAM_METRICS } from './catalogue-streams.js';
import { SUBSET_METRICS } from './catalogue-subsets.js';
import type { MetricDefinition, MetricFigures, MetricLabel } from './catalogue-types.js';

export type {
  MetricDefinition,
  MetricFigures,
  MetricLabel,
  MetricSample,
  OtelInstrument,
  RecordedFigure,
} from './catalogue-types.js';

/** Each label's name in Prometheus and attribute in OpenTelemetry. */
export const METRIC_LABELS: Readonly<Record<MetricLabel, { prometheus: string; otel: string }>> = {
  subset: { prometheus: 'subset', otel: 'grpc.lb.traffic_split.subset' },
  // gRFC A66's attribute, with its values: the method name without its leading slash, `other`.
  method: { prometheus: 'method', otel: 'grpc.method' },
  state: { prometheus: 'state', otel: 'grpc.lb.traffic_split.state' },
  code: { prometheus: 'code', otel: 'grpc.status' },
  quantile: { prometheus: 'quantile', otel: 'grpc.lb.traffic_split.quantile' },
  baseline: { prometheus: 'baseline', otel: 'grpc.lb.traffic_split.baseline' },
  test: { prometheus: 'test', otel: 'grpc.lb.traffic_split.test' },
  effect: { prometheus: 'effect', otel: 'grpc.lb.traffic_split.effect' },
  outcome: { prometheus: 'outcome', otel: 'grpc.lb.traffic_split.mirror.outcome' },
  side: { prometheus: 'side', otel: 'grpc.lb.traffic_split.mirror.side' },
  reason: { prometheus: 'reason', otel: 'grpc.lb.traffic_split.mirror.reason' },
  field: { prometheus: 'field', otel: 'grpc.lb.traffic_split.mirror.field' },
};

/** The rollout's figures: not in `stats()`, read from the split's latest rollout. */
const ROLLOUT_METRICS: readonly MetricDefinition[] = [
  {
    prometheus: { name: 'traffic_split_rollout_percent', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.rollout.percent', instrument: 'gauge' },
    unit: '%',
    help: 'Share in percent a running rollout gives its subset (no sample without a rollout).',
    labels: ['subset'],
    from: [],
    read: ({ rollout }) =>
      rollout === undefined ? [] : [{ labels: { subset: rollout.subset }, value: rollout.percent }],
  },
  {
    prometheus: { name: 'traffic_split_rollout_p_value', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.rollout.p_value', instrument: 'gauge' },
    unit: '1',
    help:
      'One-sided p-value of the last comparison of a rollout step with its ' +
      'baseline, by test (errors: Fisher exact; latency: Mann-Whitney U).',
    labels: ['subset', 'baseline', 'test'],
    from: [],
    read: ({ comparison: c }) => {
      if (c === undefined) return [];
      const labels = { subset: c.subsets.canary, baseline: c.subsets.baseline };
      return [
        { labels: { ...labels, test: 'errors' }, value: c.errors.pValue },
        { labels: { ...labels, test: 'latency' }, value: c.latency.pValue },
      ];
    },
  },
  {
    prometheus: { name: 'traffic_split_rollout_effect', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.rollout.effect', instrument: 'gauge' },
    unit: '1',
    help: 'Effect size of the last comparison with the baseline: error rate increase, ratio of median latencies.',
    labels: ['subset', 'baseline', 'effect'],
    from: [],
    read: ({ comparison: c }) => {
      if (c === undefined) return [];
      const labels = { subset: c.subsets.canary, baseline: c.subsets.baseline };
      const ratio = c.latency.medianRatio;
      return [
        { labels: { ...labels, effect: 'error_rate_increase' }, value: c.errors.increase },
        ...(ratio === null ? [] : [{ labels: { ...labels, effect: 'median_latency_ratio' }, value: ratio }]),
      ];
    },
  },
];

/** Every figure, in the order exporters render them. */
export const METRICS: readonly MetricDefinition[] = [
  ...SUBSET_METRICS,
  ...STREAM_METRICS,
  ...METHOD_METRICS,
  ...ROLLOUT_METRICS,
  ...MIRROR_METRICS,
];

/** The `stats()` paths that are not figures, and why (the catalogue test checks all others are exported). */
export const NOT_FIGURES: Readonly<Record<string, string>> = {
  name: 'the `split` label in Prometheus',
  target: 'the `grpc.target` attribute in OpenTelemetry',
  closed: 'a closed split stops its exporters',
  periodMs: 'the span of a mark; exporters read lifetime figures',
  'subsets.*.target': 'configuration (the split summary)',
  'mirror.subset': 'the `subset` label of the mirror figures',
  'mirror.samples': 'the latest mismatches, for inspection (`GET /stats`)',
  'mirror.noise.subset': 'the `baseline` label of the noise figures',
  'mirror.noise.ratio': "configuration (`setMirror()`'s noise.ratio)",
  'mirror.noise.fields.[].path': 'the `field` label of the field figures',
};

/** What the catalogue's entries read, taken from `split` once per collection. */
export function readMetricFigures(split: { stats(): SplitStats }): MetricFigures {
  // Rollouts are looked up by the split's identity: any object with `stats()` will do.
  const rollout = activeRollout(split as SplitHandle);
  return {
    stats: split.stats(),
    rollout:
      rollout === undefined ? undefined : { subset: rollout.subset, percent: rollout.plan[rollout.step]!.percent },
    comparison: lastComparison(split),
  };
}

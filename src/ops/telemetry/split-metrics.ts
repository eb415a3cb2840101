/**
 * A split's figures in the Prometheus text format, read from `stats()` at scrape time: nothing
 * runs on the call path. Same metric names as `examples/prometheus/` (prom-client), so
 * dashboards work with either.
 * @module
 */
import { renderFamilies, type MetricFamily, type Sample } from './prometheus-text.js';
import { activeRollout, lastComparison } from '../rollout/rollout.js';
import type { RolloutComparison } from '../rollout/rollout-types.js';
import { mirrorFamilies } from './mirror-metrics.js';
import type { ConnectivityStateName, SplitHandle, SplitStats } from '../../split/ops-port.js';

export { PROMETHEUS_CONTENT_TYPE } from './prometheus-text.js';

const STATES: readonly ConnectivityStateName[] = ['IDLE', 'CONNECTING', 'READY', 'TRANSIENT_FAILURE', 'SHUTDOWN'];

/**
 * The split's metrics in Prometheus text exposition format 0.0.4 (serve it with content type
 * `PROMETHEUS_CONTENT_TYPE`). Every sample has the labels `split` and `subset`:
 * `traffic_split_weight` (gauge), `traffic_split_subset_state` (gauge, 1 for the current
 * `state`), `traffic_split_calls_started_total` and `traffic_split_calls_finished_total`
 * (counters; the latter by `code` name), `traffic_split_calls_in_flight` (gauge),
 * `traffic_split_streams_open` (gauge), `traffic_split_streams_rebalanced_total` (counter: streams
 * the split ended itself, apart from `calls_finished`), `traffic_split_latency_seconds` (gauge by `quantile` 0.5, 0.9, 0.99, over the split's lifetime;
 * absent before a call finished) and `traffic_split_rollout_percent` (gauge: the share of the
 * subset a running rollout is at), and for the latest rollout's last comparison with a baseline
 * `traffic_split_rollout_p_value` (gauge by `test`: `errors` for Fisher exact, `latency` for
 * Mann-Whitney U) and `traffic_split_rollout_effect` (gauge by `effect`: `error_rate_increase`,
 * `median_latency_ratio`), labelled `subset` (the rolled-out one) and `baseline`; and the
 * mirror's `traffic_split_mirror_copies_total`, `traffic_split_mirror_percent` and
 * `traffic_split_mirror_latency_seconds` (see `setMirror()`).
 * @example
 * http.createServer((req, res) => res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(renderPrometheusMetrics(split)));
 */
export function renderPrometheusMetrics(split: SplitHandle): string {
  const stats = split.stats();
  const rollout = activeRollout(split);
  const rolloutPercent: MetricFamily = {
    name: 'traffic_split_rollout_percent',
    type: 'gauge',
    help: 'Share in percent a running rollout gives its subset (no sample without a rollout).',
    samples: rollout === undefined ? [] : [{ labels: { split: stats.name, subset: rollout.subset }, value: rollout.plan[rollout.step]!.percent }],
  };
  return renderFamilies([
    ...subsetFamilies(stats),
    rolloutPercent,
    ...comparisonFamilies(stats.name, lastComparison(split)),
    ...mirrorFamilies(stats.name, stats.mirror),
  ]);
}

/** The per-subset families. One table entry per family: long, but a table, not logic. */
function subsetFamilies(stats: SplitStats): MetricFamily[] {
  const subsets = Object.entries(stats.subsets);
  const labels = (subset: string, extra: Record<string, string> = {}): Record<string, string> => ({ split: stats.name, subset, ...extra });
  const perSubset = (value: (figures: (typeof subsets)[number][1]) => number): Sample[] =>
    subsets.map(([subset, figures]) => ({ labels: labels(subset), value: value(figures) }));
  return [
    { name: 'traffic_split_weight', type: 'gauge', help: 'Weight in force for each subset.', samples: perSubset((f) => f.weight) },
    {
      name: 'traffic_split_subset_state',
      type: 'gauge',
      help: 'Connectivity state of each subset (1 for the current state), the least ready across channels.',
      samples: subsets.flatMap(([subset, f]) => STATES.map((state) => ({ labels: labels(subset, { state }), value: f.state === state ? 1 : 0 }))),
    },
    {
      name: 'traffic_split_calls_started_total',
      type: 'counter',
      help: 'Calls started on each subset (every attempt counts).',
      samples: perSubset((f) => f.started),
    },
    {
      name: 'traffic_split_calls_finished_total',
      type: 'counter',
      help: 'Calls finished on each subset, by gRPC status code.',
      samples: subsets.flatMap(([subset, f]) => Object.entries(f.codes).map(([code, n]) => ({ labels: labels(subset, { code }), value: n ?? 0 }))),
    },
    { name: 'traffic_split_calls_in_flight', type: 'gauge', help: 'Calls in flight on each subset.', samples: perSubset((f) => f.inFlight) },
    { name: 'traffic_split_streams_open', type: 'gauge', help: 'Streaming calls open on each subset.', samples: perSubset((f) => f.openStreams) },
    {
      name: 'traffic_split_streams_rebalanced_total',
      type: 'counter',
      help: 'Streams the split ended itself (rebalancing after a weight change, or maxStreamAgeMs); not counted as finished calls.',
      samples: perSubset((f) => f.rebalanced),
    },
    {
      name: 'traffic_split_latency_seconds',
      type: 'gauge',
      help: 'Call latency quantiles per subset over the split lifetime, in seconds.',
      samples: subsets.flatMap(([subset, f]) => {
        const quantiles: [string, number | null][] = [['0.5', f.latencyMs.p50], ['0.9', f.latencyMs.p90], ['0.99', f.latencyMs.p99]];
        return quantiles.flatMap(([quantile, ms]) => (ms === null ? [] : [{ labels: labels(subset, { quantile }), value: ms / 1000 }]));
      }),
    },
  ];
}

function comparisonFamilies(split: string, comparison: RolloutComparison | undefined): MetricFamily[] {
  const labels = (extra: Record<string, string>) => ({ split, subset: comparison!.subsets.canary, baseline: comparison!.subsets.baseline, ...extra });
  const ratio = comparison?.latency.medianRatio ?? null;
  return [
    {
      name: 'traffic_split_rollout_p_value',
      type: 'gauge',
      help: 'One-sided p-value of the last comparison of a rollout step with its baseline, by test.',
      samples:
        comparison === undefined
          ? []
          : [
              { labels: labels({ test: 'errors' }), value: comparison.errors.pValue },
              { labels: labels({ test: 'latency' }), value: comparison.latency.pValue },
            ],
    },
    {
      name: 'traffic_split_rollout_effect',
      type: 'gauge',
      help: 'Effect size of the last comparison with the baseline: error rate increase, ratio of median latencies.',
      samples:
        comparison === undefined
          ? []
          : [
              { labels: labels({ effect: 'error_rate_increase' }), value: comparison.errors.increase },
              ...(ratio === null ? [] : [{ labels: labels({ effect: 'median_latency_ratio' }), value: ratio }]),
            ],
    },
  ];
}

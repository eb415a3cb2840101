/**
 * The mirror's figures for Prometheus (families for split-metrics.ts) and OpenTelemetry
 * (observations for otel-metrics.ts), read from `split.stats().mirror` at collection time:
 * nothing runs on the call path. The counters are the lifetime counts of the mirror subset, so
 * they only grow, whatever `setMirror()` does.
 * @module
 */
import type { BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { MirrorCounts, MirrorStats } from '../../split/ops-port.js';
import type { MetricFamily } from './prometheus-text.js';
import { mirrorNoiseFamilies } from './mirror-noise-metrics.js';

/** Attribute naming the outcome of mirror copies in `grpc.lb.traffic_split.mirror.copies`. */
export const MIRROR_OUTCOME_ATTRIBUTE = 'grpc.lb.traffic_split.mirror.outcome';

/** The outcomes counted, in the order they are exported. */
export const MIRROR_OUTCOMES: readonly (keyof MirrorCounts)[] = ['sent', 'completed', 'dropped', 'failed', 'matched', 'mismatched'];

/**
 * `traffic_split_mirror_copies_total` (counter by `outcome`: sent, completed, dropped, failed,
 * matched, mismatched), `traffic_split_mirror_percent` (gauge, while a mirror is in force) and
 * `traffic_split_mirror_latency_seconds` (gauge by `quantile` and `side`: `mirror` for the
 * copies, `primary` for the same calls' primaries), labelled `split` and `subset` (the mirror
 * subset). No sample before the split had a mirror.
 */
export function mirrorFamilies(split: string, mirror: MirrorStats | null): MetricFamily[] {
  const labels = (extra: Record<string, string> = {}) => ({ split, subset: mirror!.subset, ...extra });
  const latency = (side: string, quantiles: MirrorStats['latencyMs']) =>
    (
      [
        ['0.5', quantiles.p50],
        ['0.9', quantiles.p90],
        ['0.99', quantiles.p99],
      ] as const
    ).flatMap(([quantile, ms]) => (ms === null ? [] : [{ labels: labels({ side, quantile }), value: ms / 1000 }]));
  return [
    {
      name: 'traffic_split_mirror_copies_total',
      type: 'counter',
      help: 'Mirror copies to the mirror subset, by outcome (sent, completed, dropped, failed, matched, mismatched).',
      samples: mirror === null ? [] : MIRROR_OUTCOMES.map((outcome) => ({ labels: labels({ outcome }), value: mirror.lifetime[outcome] })),
    },
    {
      name: 'traffic_split_mirror_percent',
      type: 'gauge',
      help: 'Share in percent of eligible calls copied to the mirror subset (no sample without a mirror in force).',
      samples: mirror === null || !mirror.active ? [] : [{ labels: labels(), value: mirror.percent }],
    },
    {
      name: 'traffic_split_mirror_latency_seconds',
      type: 'gauge',
      help: 'Latency quantiles of the copies (side="mirror") and of their primaries (side="primary") under the latest mirror, in seconds.',
      samples: mirror === null ? [] : [...latency('mirror', mirror.latencyMs), ...latency('primary', mirror.primaryLatencyMs)],
    },
    // With a baseline only (mirror-noise-metrics.ts).
    ...mirrorNoiseFamilies(split, mirror),
  ];
}

/**
 * OpenTelemetry instruments of the mirror: `grpc.lb.traffic_split.mirror.copies` (counter
 * `{copy}` by outcome, the same counts as `traffic_split_mirror_copies_total`) and
 * `grpc.lb.traffic_split.mirror.percent` (gauge, while a mirror is in force). Returns the
 * instruments and the function that observes them from a `stats().mirror` snapshot.
 */
export function mirrorInstruments(meter: Meter, target: string, subsetAttribute: string): {
  observables: Observable[];
  observe: (result: BatchObservableResult, mirror: MirrorStats | null) => void;
} {
  const copies = meter.createObservableCounter('grpc.lb.traffic_split.mirror.copies', {
    unit: '{copy}',
    description: 'Mirror copies to the mirror subset, by outcome (sent, completed, dropped, failed, matched, mismatched).',
  });
  const percent = meter.createObservableGauge('grpc.lb.traffic_split.mirror.percent', {
    unit: '%',
    description: 'Share in percent of eligible calls copied to the mirror subset.',
  });
  const observe = (result: BatchObservableResult, mirror: MirrorStats | null): void => {
    if (mirror === null) return;
    const attributes = { 'grpc.target': target, [subsetAttribute]: mirror.subset };
    for (const outcome of MIRROR_OUTCOMES) result.observe(copies, mirror.lifetime[outcome], { ...attributes, [MIRROR_OUTCOME_ATTRIBUTE]: outcome });
    if (mirror.active) result.observe(percent, mirror.percent, attributes);
  };
  return { observables: [copies, percent], observe };
}

/**
 * The three-way comparison's figures for Prometheus, read from `split.stats().mirror.noise` at
 * collection time. They describe the latest mirror (each `setMirror()` starts them afresh), so
 * they are gauges; the noise-filtered verdicts themselves are in
 * `traffic_split_mirror_copies_total{outcome="matched"|"mismatched"}`. Only a mirror with a
 * baseline has these families.
 * @module
 */
import type { MirrorStats } from '../../split/ops-port.js';
import type { MetricFamily } from './prometheus-text.js';

/** The copy counts exported by `outcome`, in this order. */
const NOISE_OUTCOMES = ['baselineSent', 'compared', 'withoutBaseline', 'noisy', 'decodeErrors'] as const;

/**
 * `traffic_split_mirror_noise_copies` (by `outcome`: baselineSent, compared, withoutBaseline,
 * noisy, decodeErrors), `traffic_split_mirror_field_differences` (by `field` and `side`:
 * `canary` and `baseline` count the copies differing from the primary there, `regression` those
 * where only the canary did) and `traffic_split_mirror_field_noise` (1 for a field that is
 * noise, else 0), labelled `split` and `subset` (the mirror subset); the copies' family also
 * `baseline`. At most 257 fields (the tracked ones and `(other)`).
 */
export function mirrorNoiseFamilies(split: string, mirror: MirrorStats | null): MetricFamily[] {
  const noise = mirror?.noise;
  if (mirror === null || noise === undefined) return [];
  const labels = (extra: Record<string, string>) => ({ split, subset: mirror.subset, ...extra });
  return [
    {
      name: 'traffic_split_mirror_noise_copies',
      type: 'gauge',
      help: 'Copies of the three-way comparison under the latest mirror, by outcome (baselineSent, compared, withoutBaseline, noisy, decodeErrors).',
      samples: NOISE_OUTCOMES.map((outcome) => ({ labels: labels({ baseline: noise.subset, outcome }), value: noise[outcome] })),
    },
    {
      name: 'traffic_split_mirror_field_differences',
      type: 'gauge',
      help: 'Copies under the latest mirror whose answer (side="canary") or baseline answer (side="baseline") differed from the primary at the field, and regressions (side="regression": the canary differed, the baseline did not).',
      samples: noise.fields.flatMap((field) => [
        { labels: labels({ field: field.path, side: 'canary' }), value: field.canary },
        { labels: labels({ field: field.path, side: 'baseline' }), value: field.baseline },
        { labels: labels({ field: field.path, side: 'regression' }), value: field.regressions },
      ]),
    },
    {
      name: 'traffic_split_mirror_field_noise',
      type: 'gauge',
      help: 'Whether the field is noise under the latest mirror (the baseline differs from the primary there at least noise.ratio times as often as the canary): 1 or 0.',
      samples: noise.fields.map((field) => ({ labels: labels({ field: field.path }), value: field.noise ? 1 : 0 })),
    },
  ];
}

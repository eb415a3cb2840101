/**
 * The catalogue's entries for the mirror (`stats().mirror`; metrics-catalogue.ts lists them
 * all). The copy counters are the mirror subset's lifetime counts, so they only grow whatever
 * `setMirror()` does; the other figures describe the latest mirror, so they are gauges. No
 * sample before the split had a mirror; the noise figures only with a baseline.
 * @module
 */
import type { MirrorCounts, MirrorNoiseStats, MirrorStats } from '../../split/ops-port.js';
import { quantileSamples, type MetricDefinition, type MetricFigures, type MetricSample } from './catalogue-types.js';

/** The copy outcomes counted, in the order they are exported. */
const MIRROR_OUTCOMES: readonly (keyof MirrorCounts)[] = [
  'sent',
  'completed',
  'dropped',
  'failed',
  'matched',
  'mismatched',
];
/** The three-way comparison's copy counts, in the order they are exported. */
const NOISE_OUTCOMES = ['baselineSent', 'compared', 'withoutBaseline', 'noisy', 'decodeErrors'] as const;

/** Samples of the mirror subset, none without a mirror. */
const ofMirror =
  (samples: (mirror: MirrorStats) => MetricSample[]) =>
  ({ stats }: MetricFigures): MetricSample[] =>
    stats.mirror === null
      ? []
      : samples(stats.mirror).map((s) => ({ labels: { subset: stats.mirror!.subset, ...s.labels }, value: s.value }));

/** Samples of the three-way comparison, none without a baseline. */
const ofNoise = (samples: (noise: MirrorNoiseStats) => MetricSample[]) =>
  ofMirror((mirror) => (mirror.noise === undefined ? [] : samples(mirror.noise)));

const one = (value: number): MetricSample[] => [{ labels: {}, value }];

export const MIRROR_METRICS: readonly MetricDefinition[] = [
  {
    prometheus: { name: 'traffic_split_mirror_copies_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.mirror.copies', instrument: 'counter' },
    unit: '{copy}',
    help: 'Mirror copies to the mirror subset, by outcome (sent, completed, dropped, failed, matched, mismatched).',
    labels: ['subset', 'outcome'],
    // The latest mirror's own counts are the lifetime counts since its `setMirror()`.
    from: ['mirror.lifetime', ...MIRROR_OUTCOMES.map((outcome) => `mirror.${outcome}`)],
    read: ofMirror((m) => MIRROR_OUTCOMES.map((outcome) => ({ labels: { outcome }, value: m.lifetime[outcome] }))),
  },
  {
    prometheus: { name: 'traffic_split_mirror_percent', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.percent', instrument: 'gauge' },
    unit: '%',
    help: 'Share in percent of eligible calls copied to the mirror subset (no sample without a mirror in force).',
    labels: ['subset'],
    from: ['mirror.percent', 'mirror.active'],
    read: ofMirror((m) => (m.active ? one(m.percent) : [])),
  },
  {
    prometheus: { name: 'traffic_split_mirror_latency_seconds', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.latency', instrument: 'gauge' },
    unit: 's',
    help:
      'Latency quantiles of the copies (side="mirror") and of their ' +
      'primaries (side="primary") under the latest mirror, in seconds.',
    labels: ['subset', 'side', 'quantile'],
    from: ['mirror.latencyMs', 'mirror.primaryLatencyMs'],
    read: ofMirror((m) => [
      ...quantileSamples(m.latencyMs, { side: 'mirror' }),
      ...quantileSamples(m.primaryLatencyMs, { side: 'primary' }),
    ]),
  },
  {
    prometheus: { name: 'traffic_split_mirror_copies_in_flight', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.in_flight', instrument: 'upDownCounter' },
    unit: '{copy}',
    help: 'Mirror copies in flight now (what maxInFlight bounds).',
    labels: ['subset'],
    from: ['mirror.inFlight'],
    read: ofMirror((m) => one(m.inFlight)),
  },
  {
    prometheus: { name: 'traffic_split_mirror_dropped', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.dropped', instrument: 'gauge' },
    unit: '{copy}',
    help:
      'Copies given up under the latest mirror, by reason (maxInFlight, ' +
      'maxBufferedBytes, noTimeLeft, mirrorChanged, primaryEnded).',
    labels: ['subset', 'reason'],
    from: ['mirror.droppedBy'],
    read: ofMirror((m) => Object.entries(m.droppedBy).map(([reason, value]) => ({ labels: { reason }, value }))),
  },
  {
    prometheus: { name: 'traffic_split_mirror_buffered_bytes', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.buffered', instrument: 'gauge' },
    unit: 'By',
    help:
      'Bytes the mirror holds now: requests of copies in flight, answers ' +
      'kept for comparison, samples (what maxBufferedBytes bounds).',
    labels: ['subset'],
    from: ['mirror.bufferedBytes'],
    read: ofMirror((m) => one(m.bufferedBytes)),
  },
  {
    prometheus: { name: 'traffic_split_mirror_not_compared', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.not_compared', instrument: 'gauge' },
    unit: '{copy}',
    help:
      'Copies under the latest mirror that ended with an answer but were ' +
      'not compared (comparison off, or the primary got no usable answer).',
    labels: ['subset'],
    from: ['mirror.notCompared'],
    read: ofMirror((m) => one(m.notCompared)),
  },
  {
    prometheus: { name: 'traffic_split_mirror_compare_errors', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.compare_errors', instrument: 'gauge' },
    unit: '{call}',
    help: 'Comparator calls under the latest mirror that threw or returned neither a boolean nor a string.',
    labels: ['subset'],
    from: ['mirror.compareErrors'],
    read: ofMirror((m) => one(m.compareErrors)),
  },
  {
    prometheus: { name: 'traffic_split_mirror_copies_ended', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.ended', instrument: 'gauge' },
    unit: '{copy}',
    help: 'Copies ended under the latest mirror, by gRPC status code.',
    labels: ['subset', 'code'],
    from: ['mirror.codes'],
    read: ofMirror((m) => Object.entries(m.codes).map(([code, n]) => ({ labels: { code }, value: n ?? 0 }))),
  },
  {
    prometheus: { name: 'traffic_split_mirror_noise_copies', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.noise.copies', instrument: 'gauge' },
    unit: '{copy}',
    help:
      'Copies of the three-way comparison under the latest mirror, by ' +
      'outcome (baselineSent, compared, withoutBaseline, noisy, decodeErrors).',
    labels: ['subset', 'baseline', 'outcome'],
    from: NOISE_OUTCOMES.map((outcome) => `mirror.noise.${outcome}`),
    read: ofNoise((noise) =>
      NOISE_OUTCOMES.map((outcome) => ({ labels: { baseline: noise.subset, outcome }, value: noise[outcome] })),
    ),
  },
  {
    prometheus: { name: 'traffic_split_mirror_field_differences', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.field.differences', instrument: 'gauge' },
    unit: '{copy}',
    help:
      'Copies under the latest mirror whose answer (side="canary") or baseline ' +
      'answer (side="baseline") differed from the primary at the field, ' +
      'and regressions (side="regression": the canary differed, the baseline did not).',
    labels: ['subset', 'field', 'side'],
    from: ['mirror.noise.fields.[].canary', 'mirror.noise.fields.[].baseline', 'mirror.noise.fields.[].regressions'],
    read: ofNoise((noise) =>
      noise.fields.flatMap((f) => [
        { labels: { field: f.path, side: 'canary' }, value: f.canary },
        { labels: { field: f.path, side: 'baseline' }, value: f.baseline },
        { labels: { field: f.path, side: 'regression' }, value: f.regressions },
      ]),
    ),
  },
  {
    prometheus: { name: 'traffic_split_mirror_field_noise', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.mirror.field.noise', instrument: 'gauge' },
    unit: '1',
    help:
      'Whether the field is noise under the latest mirror (the baseline differs from ' +
      'the primary there at least noise.ratio times as often as the canary): 1 or 0.',
    labels: ['subset', 'field'],
    from: ['mirror.noise.fields.[].noise'],
    read: ofNoise((noise) => noise.fields.map((f) => ({ labels: { field: f.path }, value: f.noise ? 1 : 0 }))),
  },
];

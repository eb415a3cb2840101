/**
 * Per-subset OpenTelemetry instruments of one split, named after gRPC's own OpenTelemetry
 * conventions: per-attempt figures as in gRFC A66 (`grpc.client.attempt.started` and
 * `.duration`, seconds, A66's latency buckets), load-balancing-policy figures under `grpc.lb.<policy>.`
 * as in gRFC A78, and the subset as a per-call label in the manner of A78's `grpc.lb.locality`
 * and A89's `grpc.lb.backend_service`.
 * @module
 */
import type { Attributes, BatchObservableResult, Meter } from '@opentelemetry/api';
import { CODE_COUNT, ConnectivityState, Status, type TelemetryPort } from '../../split/ops-port.js';
import { lastComparison } from '../rollout/rollout.js';
import type { RolloutComparison } from '../rollout/rollout-types.js';
import { mirrorInstruments } from './mirror-metrics.js';
import type { MirrorStats } from '../../split/ops-port.js';

/** Attribute naming the subset a figure belongs to. */
export const SUBSET_ATTRIBUTE = 'grpc.lb.traffic_split.subset';
/** Attribute naming a connectivity state in `grpc.lb.traffic_split.subset.state`. */
export const STATE_NAME_ATTRIBUTE = 'grpc.lb.traffic_split.state';

/** Attribute naming the baseline subset of a rollout comparison. */
export const BASELINE_ATTRIBUTE = 'grpc.lb.traffic_split.baseline';

/** gRFC A66's latency buckets, in seconds. */
const A66_LATENCY_BUCKETS_S = [
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.013, 0.016,
  0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10, 20, 50, 100,
];

const STATES = [
  ConnectivityState.IDLE,
  ConnectivityState.CONNECTING,
  ConnectivityState.READY,
  ConnectivityState.TRANSIENT_FAILURE,
  ConnectivityState.SHUTDOWN,
] as const;

/** What the instruments need to know of the split besides its telemetry port. */
export interface MeteredSplit {
  readonly target: string;
  readonly subsets: readonly string[];
  /** The mirror's figures are read from here at each collection (a `TrafficSplit` has it). */
  stats?(): { mirror: MirrorStats | null };
}

/** The split's instruments (the mirror's apart). */
function createInstruments(meter: Meter) {
  return {
    started: meter.createObservableCounter('grpc.lb.traffic_split.attempt.started', {
      unit: '{attempt}',
      description: 'Call attempts started on each subset (each retry is an attempt).',
    }),
    duration: meter.createHistogram('grpc.lb.traffic_split.attempt.duration', {
      unit: 's',
      description: 'Duration of each finished call attempt per subset and status, from the pick to the status.',
      advice: { explicitBucketBoundaries: A66_LATENCY_BUCKETS_S },
    }),
    weight: meter.createObservableGauge('grpc.lb.traffic_split.subset.weight', {
      unit: '{weight}',
      description: 'The weight in force for each subset.',
    }),
    state: meter.createObservableGauge('grpc.lb.traffic_split.subset.state', {
      unit: '{state}',
      description: 'Connectivity state of each subset (least ready across channels): 1 for its current state, 0 for the others.',
    }),
    openStreams: meter.createObservableUpDownCounter('grpc.lb.traffic_split.streams.open', {
      unit: '{stream}',
      description: 'Streaming calls open on each subset.',
    }),
    rebalanced: meter.createObservableCounter('grpc.lb.traffic_split.streams.rebalanced', {
      unit: '{stream}',
      description: 'Streams the split ended itself (rebalancing after a weight change, or the age limit); not in attempt.duration.',
    }),
    pValue: meter.createObservableGauge('grpc.lb.traffic_split.rollout.p_value', {
      unit: '1',
      description: 'One-sided p-value of the last comparison of a rollout step with its baseline, by test (errors: Fisher exact; latency: Mann-Whitney U).',
    }),
    effect: meter.createObservableGauge('grpc.lb.traffic_split.rollout.effect', {
      unit: '1',
      description: 'Effect size of the last comparison with the baseline: error_rate_increase, median_latency_ratio.',
    }),
  };
}

type Instruments = ReturnType<typeof createInstruments>;

/** Creates the instruments and starts feeding them; returns the function that stops it. */
export function startSplitMetrics(meter: Meter, split: MeteredSplit, port: TelemetryPort): () => void {
  const target = split.target;
  const subsetAttributes: Attributes[] = split.subsets.map((name) => ({ 'grpc.target': target, [SUBSET_ATTRIBUTE]: name }));
  const instruments = createInstruments(meter);
  const mirror = mirrorInstruments(meter, target, SUBSET_ATTRIBUTE);
  const observe = (result: BatchObservableResult): void => {
    observeSubsets(result, instruments, port, subsetAttributes);
    if (split.stats !== undefined) mirror.observe(result, split.stats().mirror);
    observeComparison(result, instruments, target, lastComparison(split));
  };
  const { started, weight, state, openStreams, rebalanced, pValue, effect } = instruments;
  const observables = [started, weight, state, openStreams, rebalanced, pValue, effect, ...mirror.observables];
  meter.addBatchObservableCallback(observe, observables);
  const stopRecording = port.onAttemptFinished(attemptRecorder(instruments, subsetAttributes));
  return () => {
    meter.removeBatchObservableCallback(observe, observables);
    stopRecording();
  };
}

function observeSubsets(result: BatchObservableResult, instruments: Instruments, port: TelemetryPort, subsetAttributes: readonly Attributes[]): void {
  subsetAttributes.forEach((attributes, i) => {
    result.observe(instruments.started, port.startedAttempts(i), attributes);
    result.observe(instruments.weight, port.weight(i), attributes);
    result.observe(instruments.openStreams, port.openStreams(i), attributes);
    result.observe(instruments.rebalanced, port.rebalancedStreams(i), attributes);
    const current = port.subsetState(i);
    for (const s of STATES) result.observe(instruments.state, s === current ? 1 : 0, { ...attributes, [STATE_NAME_ATTRIBUTE]: ConnectivityState[s] });
  });
}

/** The last comparison of a rollout step with its baseline, if any. */
function observeComparison(result: BatchObservableResult, instruments: Instruments, target: string, comparison: RolloutComparison | undefined): void {
  if (comparison === undefined) return;
  const { pValue, effect } = instruments;
  const attributes = { 'grpc.target': target, [SUBSET_ATTRIBUTE]: comparison.subsets.canary, [BASELINE_ATTRIBUTE]: comparison.subsets.baseline };
  result.observe(pValue, comparison.errors.pValue, { ...attributes, 'grpc.lb.traffic_split.test': 'errors' });
  result.observe(pValue, comparison.latency.pValue, { ...attributes, 'grpc.lb.traffic_split.test': 'latency' });
  result.observe(effect, comparison.errors.increase, { ...attributes, 'grpc.lb.traffic_split.effect': 'error_rate_increase' });
  if (comparison.latency.medianRatio !== null) {
    result.observe(effect, comparison.latency.medianRatio, { ...attributes, 'grpc.lb.traffic_split.effect': 'median_latency_ratio' });
  }
}

/** Records each finished attempt's duration. Attribute sets per (subset, status) are built on
 * first use, so recording allocates nothing. */
function attemptRecorder(instruments: Instruments, subsetAttributes: readonly Attributes[]): (subset: number, code: number, durationMs: number) => void {
  const finishedAttributes: (Attributes | undefined)[] = new Array(subsetAttributes.length * CODE_COUNT);
  return (subset, code, durationMs) => {
    const slot = subset * CODE_COUNT + (code >= 0 && code < CODE_COUNT ? code : Status.UNKNOWN);
    let attributes = finishedAttributes[slot];
    if (attributes === undefined) {
      attributes = { ...subsetAttributes[subset], 'grpc.status': Status[slot % CODE_COUNT] };
      finishedAttributes[slot] = attributes;
    }
    instruments.duration.record(durationMs / 1000, attributes);
  };
}

/**
 * The catalogue's entries for the split and its subsets (metrics-catalogue.ts lists them all).
 * @module
 */
import type { ConnectivityStateName, SubsetStats } from '../../split/ops-port.js';
import { quantileSamples, type MetricDefinition, type MetricFigures, type MetricSample } from './catalogue-types.js';

export const STATES: readonly ConnectivityStateName[] = [
  'IDLE',
  'CONNECTING',
  'READY',
  'TRANSIENT_FAILURE',
  'SHUTDOWN',
];

/** One sample per subset. */
const perSubset =
  (value: (subset: SubsetStats) => number) =>
  ({ stats }: MetricFigures): MetricSample[] =>
    Object.entries(stats.subsets).map(([subset, figures]) => ({ labels: { subset }, value: value(figures) }));

// An application's own SplitHandle may lack a figure: a missing count is written NaN, a missing
// record has no samples, and the scrape goes on.

/** One sample per subset and status code counted. */
const perSubsetCode =
  (counts: (subset: SubsetStats) => Partial<Record<string, number>>) =>
  ({ stats }: MetricFigures): MetricSample[] =>
    Object.entries(stats.subsets).flatMap(([subset, figures]) =>
      Object.entries(counts(figures) ?? {}).map(([code, n]) => ({ labels: { subset, code }, value: n ?? 0 })),
    );

/** One sample per subset and connectivity state. */
const perSubsetState =
  (value: (subset: SubsetStats, state: ConnectivityStateName) => number) =>
  ({ stats }: MetricFigures): MetricSample[] =>
    Object.entries(stats.subsets).flatMap(([subset, figures]) =>
      STATES.map((state) => ({ labels: { subset, state }, value: value(figures, state) })),
    );

export const SUBSET_METRICS: readonly MetricDefinition[] = [
  {
    prometheus: { name: 'traffic_split_weight', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.subset.weight', instrument: 'gauge' },
    unit: '{weight}',
    help: 'Weight in force for each subset.',
    labels: ['subset'],
    from: ['weights', 'subsets.*.weight'],
    read: perSubset((f) => f.weight),
  },
  {
    prometheus: { name: 'traffic_split_subset_state', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.subset.state', instrument: 'gauge' },
    unit: '{state}',
    help: 'Connectivity state of each subset (1 for the current state), the least ready across channels.',
    labels: ['subset', 'state'],
    from: ['subsets.*.state'],
    read: perSubsetState((f, state) => (f.state === state ? 1 : 0)),
  },
  {
    prometheus: { name: 'traffic_split_subset_channels', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.subset.channels', instrument: 'gauge' },
    unit: '{channel}',
    help: 'Channels of the split that see each subset in each connectivity state.',
    labels: ['subset', 'state'],
    from: ['subsets.*.channels'],
    read: perSubsetState((f, state) => f.channels?.[state] ?? 0),
  },
  {
    prometheus: { name: 'traffic_split_subset_endpoints', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.subset.endpoints', instrument: 'gauge' },
    unit: '{endpoint}',
    help: "Endpoints each subset's resolver returned.",
    labels: ['subset'],
    from: ['subsets.*.endpoints'],
    read: perSubset((f) => f.endpoints),
  },
  {
    prometheus: { name: 'traffic_split_channels', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.channels', instrument: 'gauge' },
    unit: '{channel}',
    help: 'Channels currently built from the split.',
    labels: [],
    from: ['channels'],
    read: ({ stats }) => [{ labels: {}, value: stats.channels }],
  },
  {
    prometheus: { name: 'traffic_split_calls_started_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.attempt.started', instrument: 'counter' },
    unit: '{attempt}',
    help: 'Calls started on each subset (every attempt counts).',
    labels: ['subset'],
    from: ['subsets.*.started'],
    read: perSubset((f) => f.started),
  },
  {
    prometheus: { name: 'traffic_split_calls_finished_total', type: 'counter' },
    otel: null,
    unit: '{attempt}',
    help: 'Calls finished on each subset, by gRPC status code.',
    labels: ['subset', 'code'],
    from: ['subsets.*.finished', 'subsets.*.codes'],
    read: perSubsetCode((f) => f.codes),
  },
  {
    prometheus: null,
    // Recorded per finished attempt (gRFC A66's buckets): its count is the attempts finished by status.
    otel: { name: 'grpc.lb.traffic_split.attempt.duration', instrument: 'histogram' },
    unit: 's',
    help: 'Duration of each finished call attempt per subset, method and status, from the pick to the status.',
    labels: ['subset', 'method', 'code'],
    from: [
      'subsets.*.finished',
      'subsets.*.codes',
      'subsets.*.latencyMs',
      'subsets.*.latencyHistogram',
      'subsets.*.methods.*.finished',
      'subsets.*.methods.*.codes',
      'subsets.*.methods.*.latencyMs',
      'subsets.*.methods.*.latencyHistogram',
    ],
    read: null,
    records: 'attemptDuration',
  },
  {
    prometheus: { name: 'traffic_split_calls_in_flight', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.attempt.in_flight', instrument: 'upDownCounter' },
    unit: '{attempt}',
    help: 'Calls in flight on each subset.',
    labels: ['subset'],
    from: ['subsets.*.inFlight'],
    read: perSubset((f) => f.inFlight),
  },
  {
    prometheus: { name: 'traffic_split_streams_open', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.streams.open', instrument: 'upDownCounter' },
    unit: '{stream}',
    help: 'Streaming calls open on each subset.',
    labels: ['subset'],
    from: ['subsets.*.openStreams'],
    read: perSubset((f) => f.openStreams),
  },
  {
    prometheus: { name: 'traffic_split_streams_rebalanced_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.streams.rebalanced', instrument: 'counter' },
    unit: '{stream}',
    help:
      'Streams the split ended itself (rebalancing after a weight ' +
      'change, or maxStreamAgeMs); not counted as finished calls.',
    labels: ['subset'],
    from: ['subsets.*.rebalanced'],
    read: perSubset((f) => f.rebalanced),
  },
  {
    prometheus: { name: 'traffic_split_calls_abandoned_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.attempt.abandoned', instrument: 'counter' },
    unit: '{attempt}',
    help: 'Attempts cancelled because another attempt of the same call won (hedging); not counted as finished calls.',
    labels: ['subset'],
    from: ['subsets.*.abandoned'],
    read: perSubset((f) => f.abandoned),
  },
  {
    prometheus: { name: 'traffic_split_calls_refused_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.attempt.refused', instrument: 'counter' },
    unit: '{attempt}',
    help:
      'Attempts the server refused before its application saw them ' +
      '(retried transparently); not counted as finished calls.',
    labels: ['subset'],
    from: ['subsets.*.refused'],
    read: perSubset((f) => f.refused),
  },
  {
    prometheus: { name: 'traffic_split_latency_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: 'Call latency quantiles per subset over the split lifetime, in seconds.',
    labels: ['subset', 'quantile'],
    from: ['subsets.*.latencyMs', 'subsets.*.latencyHistogram'],
    read: ({ stats }) =>
      Object.entries(stats.subsets).flatMap(([subset, f]) => quantileSamples(f.latencyMs, { subset })),
  },
  {
    prometheus: { name: 'traffic_split_calls_not_started_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.call.not_started', instrument: 'counter' },
    unit: '{call}',
    help:
      'Calls that ended without any attempt starting (queued until their ' +
      'deadline or a cancel, or failed at the pick), by gRPC status code.',
    labels: ['code'],
    from: ['notStarted'],
    read: ({ stats }) =>
      Object.entries(stats.notStarted ?? {}).map(([code, n]) => ({ labels: { code }, value: n ?? 0 })),
  },
  {
    prometheus: { name: 'traffic_split_subset_calls_not_started_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.subset.call.not_started', instrument: 'counter' },
    unit: '{call}',
    help:
      'Of the calls not started, those bound to each subset (by a ' +
      'route or a rule) while it was not READY, by gRPC status code.',
    labels: ['subset', 'code'],
    from: ['subsets.*.notStarted'],
    read: perSubsetCode((f) => f.notStarted),
  },
];

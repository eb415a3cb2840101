/**
 * The catalogue's entries for what a stream is judged on in place of its latency (its lifetime):
 * the unary calls' own latency, and per subset the streams' time to first message, the gaps
 * between their messages, and how they ended (`stats().subsets.*.unaryLatencyMs` and
 * `.streams`). The per-method ones are in catalogue-methods.ts.
 * @module
 */
import type { StreamStats, SubsetStats } from '../../split/ops-port.js';
import { quantileSamples, type MetricDefinition, type MetricFigures, type MetricSample } from './catalogue-types.js';

/** Every subset with stream figures (a fleet's figures have none: no sample then). */
function eachSubsetStreams({ stats }: MetricFigures): [subset: string, streams: StreamStats][] {
  return Object.entries(stats.subsets).flatMap(([subset, f]: [string, SubsetStats]) =>
    f.streams === undefined ? [] : [[subset, f.streams] as [string, StreamStats]],
  );
}

/** Both sides of a histogram of stream figures: recorded per subset and method, read per both. */
const subsetAndMethod = (field: string): string[] => [`subsets.*.${field}`, `subsets.*.methods.*.${field}`];

export const STREAM_METRICS: readonly MetricDefinition[] = [
  {
    prometheus: { name: 'traffic_split_unary_latency_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: 'Latency quantiles of unary calls (streams apart) per subset over the split lifetime, in seconds.',
    labels: ['subset', 'quantile'],
    from: ['subsets.*.unaryLatencyMs', 'subsets.*.unaryLatencyHistogram'],
    read: ({ stats }) =>
      Object.entries(stats.subsets).flatMap(([subset, f]) =>
        f.unaryLatencyMs === undefined ? [] : quantileSamples(f.unaryLatencyMs, { subset }),
      ),
  },
  {
    prometheus: null,
    otel: { name: 'grpc.lb.traffic_split.attempt.unary_duration', instrument: 'histogram' },
    unit: 's',
    help: 'Duration of each finished attempt of a unary call per subset, method and status, from the pick to the status.',
    labels: ['subset', 'method', 'code'],
    from: [...subsetAndMethod('unaryLatencyMs'), ...subsetAndMethod('unaryLatencyHistogram')],
    read: null,
    records: 'unaryAttemptDuration',
  },
  {
    prometheus: { name: 'traffic_split_streams_finished_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.streams.finished', instrument: 'counter' },
    unit: '{stream}',
    help: 'Streams that ended on each subset (their answered attempts, a part of the finished calls).',
    labels: ['subset'],
    from: ['subsets.*.streams.finished'],
    read: (figures) => eachSubsetStreams(figures).map(([subset, s]) => ({ labels: { subset }, value: s.finished })),
  },
  {
    prometheus: { name: 'traffic_split_streams_ended_after_first_message_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.streams.ended_after_first_message', instrument: 'counter' },
    unit: '{stream}',
    help:
      'Streams that ended on each subset after at least one message, by gRPC status code ' +
      '(those with a failure code are mid-stream failures).',
    labels: ['subset', 'code'],
    from: ['subsets.*.streams.codesAfterFirstMessage'],
    read: (figures) =>
      eachSubsetStreams(figures).flatMap(([subset, s]) =>
        Object.entries(s.codesAfterFirstMessage).map(([code, n]) => ({ labels: { subset, code }, value: n ?? 0 })),
      ),
  },
  {
    prometheus: { name: 'traffic_split_streams_first_message_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: "Quantiles of streams' time to first message per subset (from the attempt's start), in seconds.",
    labels: ['subset', 'quantile'],
    from: ['subsets.*.streams.firstMessageMs', 'subsets.*.streams.firstMessageHistogram'],
    read: (figures): MetricSample[] =>
      eachSubsetStreams(figures).flatMap(([subset, s]) => quantileSamples(s.firstMessageMs, { subset })),
  },
  {
    prometheus: null,
    otel: { name: 'grpc.lb.traffic_split.streams.first_message', instrument: 'histogram' },
    unit: 's',
    help: "Time from a stream's attempt start to its first message, per subset and method.",
    labels: ['subset', 'method'],
    from: [...subsetAndMethod('streams.firstMessageMs'), ...subsetAndMethod('streams.firstMessageHistogram')],
    read: null,
    records: 'firstMessage',
  },
  {
    prometheus: { name: 'traffic_split_streams_gap_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: 'Quantiles of the gaps between consecutive messages of a stream per subset, in seconds.',
    labels: ['subset', 'quantile'],
    from: ['subsets.*.streams.gapMs', 'subsets.*.streams.gapHistogram'],
    read: (figures): MetricSample[] =>
      eachSubsetStreams(figures).flatMap(([subset, s]) => quantileSamples(s.gapMs, { subset })),
  },
  {
    prometheus: null,
    otel: { name: 'grpc.lb.traffic_split.streams.gap', instrument: 'histogram' },
    unit: 's',
    help: 'Gap between consecutive messages of a stream, per subset and method.',
    labels: ['subset', 'method'],
    from: [...subsetAndMethod('streams.gapMs'), ...subsetAndMethod('streams.gapHistogram')],
    read: null,
    records: 'messageGap',
  },
];

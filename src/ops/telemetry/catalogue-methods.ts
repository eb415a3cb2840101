/**
 * The catalogue's entries for the per-method figures of each subset (`stats().subsets.*.methods`,
 * option `methodFigures`). Families of their own, apart from the per-subset ones, so that the
 * per-subset series keep their labels and a sum over a family never counts a call twice. The
 * `method` label takes gRFC A66's values: the full method name without its leading slash
 * (`shop.Store/Read`), `other` past the bound, `unknown` for calls whose method the split never saw.
 * @module
 */
import type { MethodStats } from '../../split/ops-port.js';
import { quantileSamples, type MetricDefinition, type MetricFigures, type MetricSample } from './catalogue-types.js';

/** A method's label value: its `stats()` name without the leading slash (A66's `grpc.method`). */
export function methodLabel(name: string): string {
  return name.startsWith('/') ? name.slice(1) : name;
}

/** Every (subset, method) pair of `stats`, with the method's figures. */
function eachMethod({ stats }: MetricFigures): [subset: string, method: string, figures: MethodStats][] {
  return Object.entries(stats.subsets).flatMap(([subset, figures]) =>
    Object.entries(figures.methods ?? {}).map(([method, f]): [string, string, MethodStats] => [
      subset,
      methodLabel(method),
      f,
    ]),
  );
}

/** One sample per subset and method. */
const perMethod =
  (value: (method: MethodStats) => number) =>
  (figures: MetricFigures): MetricSample[] =>
    eachMethod(figures).map(([subset, method, f]) => ({ labels: { subset, method }, value: value(f) }));

/** One sample per subset, method and status code counted. */
const perMethodCode =
  (counts: (method: MethodStats) => Partial<Record<string, number>>) =>
  (figures: MetricFigures): MetricSample[] =>
    eachMethod(figures).flatMap(([subset, method, f]) =>
      Object.entries(counts(f) ?? {}).map(([code, n]) => ({ labels: { subset, method, code }, value: n ?? 0 })),
    );

export const METHOD_METRICS: readonly MetricDefinition[] = [
  {
    prometheus: { name: 'traffic_split_method_weight', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.method.weight', instrument: 'gauge' },
    unit: '{weight}',
    help: 'Weight in force for each subset under each method-weight override (method: its key, a method or a service prefix).',
    labels: ['subset', 'method'],
    from: ['methodWeights', 'methodWeights.*.*'],
    read: ({ stats }) =>
      Object.entries(stats.methodWeights ?? {}).flatMap(([key, weights]) =>
        Object.entries(weights).map(([subset, value]) => ({ labels: { subset, method: methodLabel(key) }, value })),
      ),
  },
  {
    prometheus: { name: 'traffic_split_method_calls_started_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.method.attempt.started', instrument: 'counter' },
    unit: '{attempt}',
    help: 'Calls started on each subset per method (every attempt counts).',
    labels: ['subset', 'method'],
    from: ['subsets.*.methods.*.started'],
    read: perMethod((f) => f.started),
  },
  {
    prometheus: { name: 'traffic_split_method_calls_finished_total', type: 'counter' },
    otel: null,
    unit: '{attempt}',
    help: 'Calls finished on each subset per method, by gRPC status code.',
    labels: ['subset', 'method', 'code'],
    from: ['subsets.*.methods.*.finished', 'subsets.*.methods.*.codes'],
    read: perMethodCode((f) => f.codes),
  },
  {
    prometheus: { name: 'traffic_split_method_calls_in_flight', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.method.attempt.in_flight', instrument: 'upDownCounter' },
    unit: '{attempt}',
    help: 'Calls in flight on each subset per method.',
    labels: ['subset', 'method'],
    from: ['subsets.*.methods.*.inFlight'],
    read: perMethod((f) => f.inFlight),
  },
  {
    prometheus: { name: 'traffic_split_method_streams_open', type: 'gauge' },
    otel: { name: 'grpc.lb.traffic_split.method.streams.open', instrument: 'upDownCounter' },
    unit: '{stream}',
    help: 'Streaming calls open on each subset per method.',
    labels: ['subset', 'method'],
    from: ['subsets.*.methods.*.openStreams'],
    read: perMethod((f) => f.openStreams),
  },
  {
    prometheus: { name: 'traffic_split_method_streams_rebalanced_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.method.streams.rebalanced', instrument: 'counter' },
    unit: '{stream}',
    help: 'Streams the split ended itself, per subset and method; not counted as finished calls.',
    labels: ['subset', 'method'],
    from: ['subsets.*.methods.*.rebalanced'],
    read: perMethod((f) => f.rebalanced),
  },
  {
    prometheus: { name: 'traffic_split_method_calls_abandoned_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.method.attempt.abandoned', instrument: 'counter' },
    unit: '{attempt}',
    help: 'Hedged attempts cancelled because another attempt won, per subset and method.',
    labels: ['subset', 'method'],
    from: ['subsets.*.methods.*.abandoned'],
    read: perMethod((f) => f.abandoned),
  },
  {
    prometheus: { name: 'traffic_split_method_calls_refused_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.method.attempt.refused', instrument: 'counter' },
    unit: '{attempt}',
    help: 'Attempts the server refused before its application saw them, per subset and method.',
    labels: ['subset', 'method'],
    from: ['subsets.*.methods.*.refused'],
    read: perMethod((f) => f.refused),
  },
  {
    prometheus: { name: 'traffic_split_method_latency_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: 'Call latency quantiles per subset and method over the split lifetime, in seconds.',
    labels: ['subset', 'method', 'quantile'],
    from: ['subsets.*.methods.*.latencyMs', 'subsets.*.methods.*.latencyHistogram'],
    read: (figures) =>
      eachMethod(figures).flatMap(([subset, method, f]) => quantileSamples(f.latencyMs, { subset, method })),
  },
  {
    prometheus: { name: 'traffic_split_method_unary_latency_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: 'Latency quantiles of unary calls per subset and method over the split lifetime, in seconds.',
    labels: ['subset', 'method', 'quantile'],
    from: ['subsets.*.methods.*.unaryLatencyMs', 'subsets.*.methods.*.unaryLatencyHistogram'],
    read: (figures) =>
      eachMethod(figures).flatMap(([subset, method, f]) =>
        f.unaryLatencyMs === undefined ? [] : quantileSamples(f.unaryLatencyMs, { subset, method }),
      ),
  },
  {
    prometheus: { name: 'traffic_split_method_streams_finished_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.method.streams.finished', instrument: 'counter' },
    unit: '{stream}',
    help: 'Streams that ended on each subset per method (their answered attempts).',
    labels: ['subset', 'method'],
    from: ['subsets.*.methods.*.streams.finished'],
    read: (figures) =>
      eachMethod(figures).flatMap(([subset, method, f]) =>
        f.streams === undefined ? [] : [{ labels: { subset, method }, value: f.streams.finished }],
      ),
  },
  {
    prometheus: { name: 'traffic_split_method_streams_ended_after_first_message_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.method.streams.ended_after_first_message', instrument: 'counter' },
    unit: '{stream}',
    help: 'Streams that ended after at least one message, per subset, method and gRPC status code.',
    labels: ['subset', 'method', 'code'],
    from: ['subsets.*.methods.*.streams.codesAfterFirstMessage'],
    read: perMethodCode((f) => f.streams?.codesAfterFirstMessage ?? {}),
  },
  {
    prometheus: { name: 'traffic_split_method_streams_first_message_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: "Quantiles of streams' time to first message per subset and method, in seconds.",
    labels: ['subset', 'method', 'quantile'],
    from: ['subsets.*.methods.*.streams.firstMessageMs', 'subsets.*.methods.*.streams.firstMessageHistogram'],
    read: (figures) =>
      eachMethod(figures).flatMap(([subset, method, f]) =>
        f.streams === undefined ? [] : quantileSamples(f.streams.firstMessageMs, { subset, method }),
      ),
  },
  {
    prometheus: { name: 'traffic_split_method_streams_gap_seconds', type: 'gauge' },
    otel: null,
    unit: 's',
    help: 'Quantiles of the gaps between consecutive messages of a stream per subset and method, in seconds.',
    labels: ['subset', 'method', 'quantile'],
    from: ['subsets.*.methods.*.streams.gapMs', 'subsets.*.methods.*.streams.gapHistogram'],
    read: (figures) =>
      eachMethod(figures).flatMap(([subset, method, f]) =>
        f.streams === undefined ? [] : quantileSamples(f.streams.gapMs, { subset, method }),
      ),
  },
  {
    prometheus: { name: 'traffic_split_method_calls_not_started_total', type: 'counter' },
    otel: { name: 'grpc.lb.traffic_split.method.call.not_started', instrument: 'counter' },
    unit: '{call}',
    help: 'Calls not started while bound to each subset (by a route or a rule), per method and gRPC status code.',
    labels: ['subset', 'method', 'code'],
    from: ['subsets.*.methods.*.notStarted'],
    read: perMethodCode((f) => f.notStarted),
  },
];

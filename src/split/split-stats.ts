/**
 * The per-subset figures of `stats()`, read from the split's counters, channels and streams.
 * @module
 */
import { ConnectivityState, Status } from '../policy/grpc/grpc.js';
import type { CountersMark } from '../policy/call/counters.js';
import type { RowFigures } from '../algorithms/figure-rows.js';
import type { SplitState } from '../policy/balancer/split-state.js';
import type { ConnectivityStateName, MethodStats, StatusName, SubsetStats } from './types.js';

/** Every subset's figures, for the split's lifetime or since `since`. */
export function subsetStats(
  state: SplitState,
  targets: readonly string[],
  since: CountersMark | null,
): Record<string, SubsetStats> {
  const subsets: Record<string, SubsetStats> = {};
  state.subsetNames.forEach((name, i) => {
    const figures = state.counters.figures(i, since);
    subsets[name] = {
      weight: state.weights[i]!,
      target: targets[i]!,
      state: ConnectivityState[state.channels.subsetState(i)] as ConnectivityStateName,
      channels: state.channels.subsetStateCounts(i),
      endpoints: state.channels.subsetEndpointCount(i),
      started: figures.started,
      finished: figures.finished,
      inFlight: state.counters.inFlight(i),
      openStreams: state.openStreamsOn(i),
      rebalanced: figures.rebalanced,
      codes: byCodeName(figures.codes),
      abandoned: figures.abandoned,
      refused: figures.refused,
      notStarted: byCodeName(figures.notStarted),
      ...latencyAndStreams(figures),
      methods: methodStats(state, i, since),
    };
  });
  return subsets;
}

/** Subset `subset`'s figures per method, by the same definitions as the subset's. */
function methodStats(state: SplitState, subset: number, since: CountersMark | null): Record<string, MethodStats> {
  const methods = state.counters.methods;
  const stats: Record<string, MethodStats> = {};
  if (methods === null) return stats;
  const names = methods.names.names;
  const open = new Array<number>(names.length).fill(0);
  for (const stream of state.streamsOn(subset))
    if (stream.method >= 0 && stream.method < open.length) open[stream.method]!++;
  names.forEach((name, slot) => {
    const figures = methods.figures(slot, subset, since?.methods ?? null);
    stats[name] = {
      started: figures.started,
      finished: figures.finished,
      inFlight: methods.inFlight(slot, subset),
      openStreams: open[slot]!,
      rebalanced: figures.rebalanced,
      codes: byCodeName(figures.codes),
      abandoned: figures.abandoned,
      refused: figures.refused,
      notStarted: byCodeName(figures.notStarted),
      ...latencyAndStreams(figures),
    };
  });
  return stats;
}

/** The latency and stream figures of a row, as `stats()` names them. */
function latencyAndStreams(
  figures: RowFigures,
): Pick<SubsetStats, 'latencyMs' | 'latencyHistogram' | 'unaryLatencyMs' | 'unaryLatencyHistogram' | 'streams'> {
  const streams = figures.streams;
  return {
    latencyMs: figures.latencyMs,
    latencyHistogram: figures.latencyHistogram,
    unaryLatencyMs: figures.unaryLatencyMs,
    unaryLatencyHistogram: figures.unaryLatencyHistogram,
    streams: { ...streams, codesAfterFirstMessage: byCodeName(streams.codesAfterFirstMessage) },
  };
}

/** Counts by status code number, as counts by status name. */
export function byCodeName(counts: ReadonlyMap<number, number>): Partial<Record<StatusName, number>> {
  const named: Partial<Record<StatusName, number>> = {};
  for (const [code, count] of counts) named[Status[code] as StatusName] = count;
  return named;
}

/**
 * The per-subset figures of `stats()`, read from the split's counters, channels and streams.
 * @module
 */
import { ConnectivityState, Status } from '../policy/grpc/grpc.js';
import type { CountersMark } from '../policy/call/counters.js';
import type { SplitState } from '../policy/balancer/split-state.js';
import type { ConnectivityStateName, StatusName, SubsetStats } from './types.js';

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
      latencyMs: figures.latencyMs,
      latencyHistogram: figures.latencyHistogram,
    };
  });
  return subsets;
}

/** Counts by status code number, as counts by status name. */
export function byCodeName(counts: ReadonlyMap<number, number>): Partial<Record<StatusName, number>> {
  const named: Partial<Record<StatusName, number>> = {};
  for (const [code, count] of counts) named[Status[code] as StatusName] = count;
  return named;
}

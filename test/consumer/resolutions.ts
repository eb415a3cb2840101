// Type-checked (never run) under each `moduleResolution` a TypeScript application may use:
// node10 (CommonJS projects on older settings), node16 and bundler. Both entry points resolve
// with their declarations, and the operations accept any object implementing `SplitHandle`.
import { TrafficSplit, type SplitHandle, type SplitStats, type StatsMark } from 'grpc-traffic-split';
import { renderPrometheusMetrics, startRollout, type Rollout, type RolloutOptions } from 'grpc-traffic-split/ops';

export function metricsOf(split: TrafficSplit): string {
  return renderPrometheusMetrics(split);
}

/** A handle that is not a TrafficSplit: a test double, or a wrapper an application writes. */
export function rolloutOnDouble(stats: SplitStats, mark: StatsMark, options: RolloutOptions): Rollout {
  let weights: Record<string, number> = { ...stats.weights };
  const handle: SplitHandle = {
    name: stats.name,
    target: stats.target,
    subsets: Object.keys(stats.subsets),
    closed: false,
    setWeights: (next) => {
      weights = { ...next };
    },
    getWeights: () => ({ ...weights }),
    stats: () => stats,
    mark: () => mark,
    setMirror: () => {},
    getMirror: () => null,
    setMethodWeights: () => {},
    getMethodWeights: () => ({}),
    onCallEnded: () => () => {},
    on: () => handle,
    once: () => handle,
    off: () => handle,
  };
  return startRollout(handle, options);
}

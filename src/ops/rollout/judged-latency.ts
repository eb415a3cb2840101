/**
 * The latency a judge compares: the time to the first answer. For a unary call that is its
 * latency; for a stream, the time to its first message, never its lifetime (a subscription that
 * lives an hour is not slow). Figures without the split's stream figures (a fleet's, a test
 * double's) are judged on their latencies as they are.
 * @module
 */
import type { Histogram } from '../../algorithms/stats-tests.js';
import type { SubsetStats } from '../../split/ops-port.js';

/** What the latency of a window is read from. */
export type LatencySource = Pick<SubsetStats, 'latencyHistogram'> &
  Partial<Pick<SubsetStats, 'unaryLatencyHistogram' | 'streams'>>;

/** The window's times to first answer, as one histogram (fastest first). */
export function answerHistogram(window: LatencySource): Histogram {
  // A handle's figures may come without histograms (a test double's, a custom handle's).
  if (window.unaryLatencyHistogram === undefined) return (window.latencyHistogram ?? []) as Histogram;
  const streams = window.streams?.firstMessageHistogram ?? [];
  if (streams.length === 0) return window.unaryLatencyHistogram as Histogram;
  return mergeHistograms([window.unaryLatencyHistogram, streams]);
}

/** The sum of histograms of the same buckets (bucket middles as keys). */
export function mergeHistograms(parts: readonly (readonly (readonly [number, number])[])[]): Histogram {
  const counts = new Map<number, number>();
  for (const part of parts) for (const [ms, count] of part) counts.set(ms, (counts.get(ms) ?? 0) + count);
  return [...counts].sort((a, b) => a[0] - b[0]) as Histogram;
}

/**
 * A rollout by methods judges a step on the calls of its methods alone: the split's figures with
 * each subset's counted figures replaced by the sums of its matching methods' figures
 * (`SubsetStats.methods`), so every judge reads them as it reads a whole split's.
 * @module
 */
import type { MethodStats, SplitStats, StreamStats, SubsetStats } from '../../split/ops-port.js';
import { histogramQuantile } from '../../algorithms/stats-tests.js';
import { mergeHistograms } from './judged-latency.js';

type Counted = MethodStats;

/** Whether a method name is one of `keys` (a full name, or a service prefix ending in "/"): the
 * methods a rollout by methods concerns. */
export function methodMatches(method: string, keys: readonly string[]): boolean {
  return keys.some((key) => (key.endsWith('/') ? method.startsWith(key) : method === key));
}

/** `stats` restricted to the calls of the methods `keys` name. */
export function restrictToMethods(stats: SplitStats, keys: readonly string[]): SplitStats {
  const subsets: Record<string, SubsetStats> = {};
  for (const [name, subset] of Object.entries(stats.subsets)) {
    const methods = Object.entries(subset.methods ?? {}).filter(([method]) => methodMatches(method, keys));
    subsets[name] = { ...subset, ...sumOf(methods.map(([, figures]) => figures)) };
  }
  return { ...stats, subsets };
}

function sumOf(parts: readonly Counted[]): Counted {
  const sum: Counted = {
    started: 0,
    finished: 0,
    inFlight: 0,
    openStreams: 0,
    rebalanced: 0,
    codes: {},
    abandoned: 0,
    refused: 0,
    notStarted: {},
    latencyMs: { p50: null, p90: null, p99: null },
    latencyHistogram: [],
  };
  for (const part of parts) {
    sum.started += part.started;
    sum.finished += part.finished;
    sum.inFlight += part.inFlight;
    sum.openStreams += part.openStreams;
    sum.rebalanced += part.rebalanced;
    sum.abandoned += part.abandoned;
    sum.refused += part.refused;
    addCodes(sum.codes, part.codes);
    addCodes(sum.notStarted, part.notStarted);
  }
  sum.latencyHistogram = mergeHistograms(parts.map((part) => part.latencyHistogram)) as [number, number][];
  sum.latencyMs = quantiles(sum.latencyHistogram);
  const unary = parts.map((part) => part.unaryLatencyHistogram);
  if (unary.every((histogram) => histogram !== undefined)) {
    sum.unaryLatencyHistogram = mergeHistograms(unary) as [number, number][];
    sum.unaryLatencyMs = quantiles(sum.unaryLatencyHistogram);
  }
  const streams = parts.map((part) => part.streams);
  if (streams.every((each) => each !== undefined)) sum.streams = sumOfStreams(streams);
  return sum;
}

function sumOfStreams(parts: readonly StreamStats[]): StreamStats {
  const codesAfterFirstMessage: Record<string, number> = {};
  for (const part of parts) addCodes(codesAfterFirstMessage, part.codesAfterFirstMessage);
  const firstMessageHistogram = mergeHistograms(parts.map((p) => p.firstMessageHistogram)) as [number, number][];
  const gapHistogram = mergeHistograms(parts.map((p) => p.gapHistogram)) as [number, number][];
  return {
    finished: parts.reduce((total, part) => total + part.finished, 0),
    codesAfterFirstMessage,
    firstMessageMs: quantiles(firstMessageHistogram),
    firstMessageHistogram,
    gapMs: quantiles(gapHistogram),
    gapHistogram,
  };
}

function quantiles(histogram: [number, number][]): { p50: number | null; p90: number | null; p99: number | null } {
  return {
    p50: histogramQuantile(histogram, 0.5),
    p90: histogramQuantile(histogram, 0.9),
    p99: histogramQuantile(histogram, 0.99),
  };
}

function addCodes(into: Record<string, number>, from: Partial<Record<string, number>>): void {
  for (const [code, count] of Object.entries(from)) into[code] = (into[code] ?? 0) + (count ?? 0);
}

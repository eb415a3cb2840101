/**
 * Fixed-sample latency tests across strata (methods) from per-stratum histograms: van Elteren's
 * stratified rank test over all strata, one-sided Mann-Whitney per stratum, Holm-adjusted
 * together, so a slower method is named and a different mix of fast and slow methods between
 * the versions makes no false difference.
 * @module
 */
import { histogramQuantile, mannWhitneyGreater, normalUpperTail, type Histogram } from '../stats-tests.js';
import { verdicts, type RawTest, type StratifiedResult } from './stratified-errors.js';

/** One stratum's latencies of each version, as histograms (`[value, count]`, ties per value). */
export interface LatencyStratum {
  stratum: string;
  canary: Histogram;
  baseline: Histogram;
}

/** The one-sided van Elteren test of "the canary is slower, stratum by stratum". */
export interface VanElterenResult {
  /** Σ W_k / (N_k + 1): the canary's rank sums, each weighted by its stratum's size. */
  statistic: number;
  /** Its mean and variance when, within each stratum, the versions' latencies are alike. */
  expected: number;
  variance: number;
  /** Normal score (0 when nothing varies), no continuity correction. */
  z: number;
  pValue: number;
}

/** The canary's rank sum in one stratum, its sizes and its tie term Σ (t³ - t). */
interface RankSum {
  rankSum: number;
  canary: number;
  baseline: number;
  ties: number;
}

/**
 * Van Elteren's test (van Elteren 1960): Wilcoxon rank sums computed within each stratum, with
 * mid-ranks for ties, weighted by 1/(N_k + 1), which is locally most powerful when the shift
 * is the same in every stratum; the normal approximation uses the exact permutation mean and
 * tie-corrected variance. `ratio` scales the baseline's values before ranking, to test "slower
 * than `ratio` times the baseline". Assumes independent calls; histogram buckets are ties.
 */
export function vanElterenGreater(strata: readonly LatencyStratum[], ratio = 1): VanElterenResult {
  let statistic = 0;
  let expected = 0;
  let variance = 0;
  for (const { canary, baseline } of strata) {
    const { rankSum, canary: n, baseline: m, ties } = rankSumOf(canary, baseline, ratio);
    const total = n + m;
    if (n === 0 || m === 0) continue;
    statistic += rankSum / (total + 1);
    expected += n / 2;
    const spread = total + 1 - ties / (total * (total - 1));
    variance += (n * m * spread) / 12 / (total + 1) ** 2;
  }
  if (!(variance > 0)) return { statistic, expected, variance, z: 0, pValue: 1 };
  const z = (statistic - expected) / Math.sqrt(variance);
  return { statistic, expected, variance, z, pValue: normalUpperTail(z) };
}

function rankSumOf(canary: Histogram, baseline: Histogram, ratio: number): RankSum {
  const counts = new Map<number, [number, number]>();
  const add = (value: number, count: number, side: 0 | 1): void => {
    if (!(count > 0)) return;
    let pair = counts.get(value);
    if (pair === undefined) counts.set(value, (pair = [0, 0]));
    pair[side] += count;
  };
  for (const [value, count] of canary) add(value, count, 0);
  for (const [value, count] of baseline) add(value * ratio, count, 1);
  let below = 0;
  const sum: RankSum = { rankSum: 0, canary: 0, baseline: 0, ties: 0 };
  for (const value of [...counts.keys()].sort((a, b) => a - b)) {
    const [c, b] = counts.get(value)!;
    const t = c + b;
    sum.rankSum += c * (below + (t + 1) / 2);
    sum.ties += t ** 3 - t;
    sum.canary += c;
    sum.baseline += b;
    below += t;
  }
  return sum;
}

/**
 * Latency judged across strata: van Elteren over all strata (effect: the geometric mean of the
 * strata's ratios of medians, weighted as the test weighs them, n·m/(N+1)) and a one-sided
 * Mann-Whitney per stratum (effect: its ratio of medians), Holm-adjusted together. A test fails
 * when its adjusted p-value is below `alpha` and its effect exceeds `maxRatio`.
 */
export function judgeStratifiedLatency(
  strata: readonly LatencyStratum[],
  { alpha, maxRatio }: { alpha: number; maxRatio: number },
): StratifiedResult {
  const raw: RawTest[] = [];
  let logSum = 0;
  let weightSum = 0;
  for (const { stratum, canary, baseline } of strata) {
    const ratio = medianRatio(canary, baseline);
    raw.push({ stratum, pValue: mannWhitneyGreater(canary, baseline).pValue, effect: ratio });
    if (!(ratio > 0) || !Number.isFinite(ratio)) continue;
    const n = count(canary);
    const m = count(baseline);
    const weight = (n * m) / (n + m + 1);
    logSum += weight * Math.log(ratio);
    weightSum += weight;
  }
  const pooledRatio = weightSum > 0 ? Math.exp(logSum / weightSum) : NaN;
  raw.unshift({ stratum: null, pValue: vanElterenGreater(strata).pValue, effect: pooledRatio });
  return verdicts(raw, alpha, (effect) => effect > maxRatio);
}

/** The canary's median over the baseline's; NaN without both. */
function medianRatio(canary: Histogram, baseline: Histogram): number {
  const c = histogramQuantile(canary, 0.5);
  const b = histogramQuantile(baseline, 0.5);
  return c !== null && b !== null && b > 0 ? c / b : NaN;
}

function count(histogram: Histogram): number {
  let total = 0;
  for (const [, n] of histogram) total += n;
  return total;
}

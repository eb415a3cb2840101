/**
 * Pure statistics for comparing a canary with its baseline: the normal distribution's upper
 * tail, a one-sided Fisher exact test on two failure counts, and a one-sided Mann-Whitney U test
 * on two histograms (ties per bucket, normal approximation with tie correction). No I/O.
 * @module
 */

/** ln(n!) by summing logs for small n (exact enough and cheap), Stirling's series above. */
function logFactorial(n: number): number {
  if (n < 256) {
    let sum = 0;
    for (let k = 2; k <= n; k++) sum += Math.log(k);
    return sum;
  }
  const x = n + 1;
  // ln Γ(x) by Stirling's series: its error at x > 256 is far below double precision.
  return (
    (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3) + 1 / (1260 * x ** 5)
  );
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * P(Z >= z) for a standard normal Z. A power series near 0 and a continued fraction in the
 * tails, so small p-values keep their relative precision (1 - Φ(z) would lose it).
 */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 1 - normalUpperTail(-z);
  const density = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  if (z < 3) {
    // Φ(z) - 1/2 = φ(z) · Σ z^(2n+1) / (1·3·5···(2n+1)).
    let term = z;
    let sum = z;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (z * z) / (2 * n + 1);
      sum += term;
    }
    return 0.5 - density * sum;
  }
  // Q(z) = φ(z) / (z + 1/(z + 2/(z + 3/(z + ...)))), evaluated from the bottom up.
  let fraction = z;
  for (let k = 120; k >= 1; k--) fraction = z + k / fraction;
  return density / fraction;
}

/** The one-sided Fisher exact test of "the canary fails more often than the baseline". */
export interface FisherResult {
  /** P(X >= canaryFailures) for X hypergeometric with both subsets' margins. */
  pValue: number;
}

/**
 * One-sided Fisher exact test: the probability, were failures spread over the two subsets
 * regardless of version, that the canary would get at least `canaryFailures` of them.
 */
export function fisherExactGreater(
  canaryFailures: number,
  canaryCalls: number,
  baselineFailures: number,
  baselineCalls: number,
): FisherResult {
  const failures = canaryFailures + baselineFailures;
  const total = canaryCalls + baselineCalls;
  if (canaryFailures === 0 || total === 0) return { pValue: 1 };
  const denominator = logChoose(total, canaryCalls);
  const probability = (x: number): number =>
    Math.exp(logChoose(failures, x) + logChoose(total - failures, canaryCalls - x) - denominator);
  // The terms grow up to the mode, then shrink. Each tail is summed from its inner end outwards
  // (below the mode, P(X >= k) = 1 - P(X < k)), so a sum takes some standard deviations of terms,
  // not one term per count between k and the mode: millions of failures would block the loop.
  const mode = Math.floor(((canaryCalls + 1) * (failures + 1)) / (total + 2));
  if (canaryFailures > mode)
    return { pValue: Math.min(1, tailSum(probability, canaryFailures, Math.min(failures, canaryCalls), 1)) };
  const least = Math.max(0, canaryCalls - (total - failures));
  return { pValue: Math.min(1, Math.max(0, 1 - tailSum(probability, canaryFailures - 1, least, -1))) };
}

/** The sum of `probability(x)` from `from` to `to` (by `step`), terms shrinking: stops once they
 * no longer change it (or underflow to 0). */
function tailSum(probability: (x: number) => number, from: number, to: number, step: 1 | -1): number {
  let sum = 0;
  for (let x = from; step > 0 ? x <= to : x >= to; x += step) {
    const term = probability(x);
    sum += term;
    if (term <= sum * 1e-17) break;
  }
  return sum;
}

/** A histogram: `[value, count]` pairs, any order; equal values are ties. */
export type Histogram = ReadonlyArray<readonly [value: number, count: number]>;

/** The one-sided Mann-Whitney U test of "canary values are stochastically greater". */
export interface MannWhitneyResult {
  /** U of the canary: pairs (canary, baseline) where the canary is greater, ties counting 1/2. */
  u: number;
  /** The normal score, with continuity and tie corrections (0 when every value ties). */
  z: number;
  pValue: number;
}

/**
 * One-sided Mann-Whitney U on two histograms. Each distinct value is one group of ties, which
 * get the mean of their ranks; the variance is corrected for ties, and the normal
 * approximation gets a continuity correction of 1/2.
 */
export function mannWhitneyGreater(canary: Histogram, baseline: Histogram): MannWhitneyResult {
  const values = new Map<number, [number, number]>();
  for (const [value, count] of canary) if (count > 0) (values.get(value) ?? setNew(values, value))[0] += count;
  for (const [value, count] of baseline) if (count > 0) (values.get(value) ?? setNew(values, value))[1] += count;
  let n1 = 0;
  let n2 = 0;
  for (const [c1, c2] of values.values()) {
    n1 += c1;
    n2 += c2;
  }
  const total = n1 + n2;
  let below = 0;
  let rankSum = 0;
  let ties = 0;
  for (const value of [...values.keys()].sort((a, b) => a - b)) {
    const [c1, c2] = values.get(value)!;
    const t = c1 + c2;
    rankSum += c1 * (below + (t + 1) / 2);
    ties += t ** 3 - t;
    below += t;
  }
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const variance = total < 2 ? 0 : ((n1 * n2) / 12) * (total + 1 - ties / (total * (total - 1)));
  if (!(variance > 0)) return { u, z: 0, pValue: 1 };
  const z = (u - (n1 * n2) / 2 - 0.5) / Math.sqrt(variance);
  return { u, z, pValue: normalUpperTail(z) };
}

function setNew(values: Map<number, [number, number]>, value: number): [number, number] {
  const counts: [number, number] = [0, 0];
  values.set(value, counts);
  return counts;
}

/** The q-quantile (0..1) of a histogram by rank ceil(q·n), as the split's own quantiles; null when empty. */
export function histogramQuantile(histogram: Histogram, q: number): number | null {
  const sorted = [...histogram].filter(([, count]) => count > 0).sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [value, count] of sorted) {
    seen += count;
    if (seen >= rank) return value;
  }
  return null;
}

/**
 * Precision of a sequence of picks over sliding windows: how far any window's count of a subset
 * strays from the window's ideal share. Pure functions over arrays of subset indices.
 * @module
 */

/**
 * Max over every window of `window` consecutive picks and every subset of
 * `|count - window * share|`, where `share = weights[i] / sum(weights)`. Entries < 0 (failed
 * calls) count for no subset. O(length * subsets) with prefix sums. NaN when the sequence is
 * shorter than the window.
 * @example maxDeviation(Int16Array.of(0,0,0,0,0,0,0,0,0,1), [90, 10], 10) // 0
 */
export function maxDeviation(sequence: ArrayLike<number>, weights: readonly number[], window: number): number {
  if (sequence.length < window) return NaN;
  const total = weights.reduce((a, b) => a + b, 0);
  let worst = 0;
  weights.forEach((weight, subset) => {
    const ideal = (window * weight) / total;
    let count = 0;
    for (let i = 0; i < sequence.length; i++) {
      if (sequence[i] === subset) count++;
      if (i >= window && sequence[i - window] === subset) count--;
      if (i >= window - 1) worst = Math.max(worst, Math.abs(count - ideal));
    }
  });
  return worst;
}

/**
 * The first index k such that every window of `window` calls starting at or after k (and
 * fitting in the sequence) is within `tolerance` of `weights` for every subset: the point from
 * which a new split "holds". Returns -1 when even the last window misses.
 */
export function holdsFrom(
  sequence: ArrayLike<number>,
  weights: readonly number[],
  window = 10,
  tolerance = 1,
): number {
  const total = weights.reduce((a, b) => a + b, 0);
  const lastStart = sequence.length - window;
  if (lastStart < 0) return -1;
  const counts = new Float64Array(weights.length);
  const fits = (): boolean => weights.every((w, s) => Math.abs(counts[s]! - (window * w) / total) <= tolerance + 1e-9);
  // Walk windows from the end backwards; the answer is one past the last window that misses.
  for (let i = lastStart; i < sequence.length; i++) if (sequence[i]! >= 0) counts[sequence[i]!]!++;
  if (!fits()) return -1;
  for (let start = lastStart - 1; start >= 0; start--) {
    if (sequence[start]! >= 0) counts[sequence[start]!]!++;
    const leaving = sequence[start + window]!;
    if (leaving >= 0) counts[leaving]!--;
    if (!fits()) return start + 1;
  }
  return 0;
}

/** Share of `subset` in consecutive buckets of `bucket` picks (the chart's points). */
export function sharePerBucket(sequence: ArrayLike<number>, subset: number, bucket: number): number[] {
  const out: number[] = [];
  for (let start = 0; start + bucket <= sequence.length; start += bucket) {
    let count = 0;
    for (let i = start; i < start + bucket; i++) if (sequence[i] === subset) count++;
    out.push(count / bucket);
  }
  return out;
}

/**
 * Summaries of repeated measurements: every figure the suite prints is a median over rounds with
 * its min and max, and every comparison is a ratio of figures taken in the same round.
 * @module
 */

/** Median, min and max of one figure over rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** The raw values, in round order. */
  values: number[];
}

/** Summarizes values measured once per round. Empty input gives NaNs (printed as "n/a"). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, values: [] };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, values: [...values] };
}

/**
 * Per-round ratios `a[i] / b[i]`, summarized. Pairing by round (rather than dividing medians)
 * cancels drift that affects both sides of one round alike, such as a noisy neighbour.
 */
export function ratioSpread(a: readonly number[], b: readonly number[]): Spread {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(a[i]! / b[i]!);
  return spread(ratios);
}

/**
 * The q-quantile (0..1) of the first `count` values of `samples`, sorted in place. Nearest-rank,
 * so p99 of 100 samples is the 99th smallest, never an interpolated value nobody observed.
 */
export function quantileInPlace(samples: Float64Array, count: number, quantiles: readonly number[]): number[] {
  if (count === 0) return quantiles.map(() => NaN);
  const view = samples.subarray(0, count);
  view.sort();
  return quantiles.map((q) => view[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))]!);
}

/** `12.3` style with a fixed number of decimals; "n/a" for NaN. */
export function fmt(value: number, decimals = 2): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** `median (min–max)`, or just the median when all rounds agree or there was one round. */
export function fmtSpread(s: Spread, decimals = 2): string {
  if (!Number.isFinite(s.median)) return 'n/a';
  const median = fmt(s.median, decimals);
  const min = fmt(s.min, decimals);
  const max = fmt(s.max, decimals);
  return min === max ? median : `${median} (${min}–${max})`;
}

/** A ratio as `0.99x (0.97–1.01)`; just `0.99x` when all rounds agree. */
export function fmtRatio(s: Spread): string {
  if (!Number.isFinite(s.median)) return 'n/a';
  // Three decimals below 0.1, so a ratio of 0.004 does not print as 0.00x.
  const decimals = Math.abs(s.median) < 0.095 ? 3 : 2;
  const median = `${fmt(s.median, decimals)}x`;
  const min = fmt(s.min, decimals);
  const max = fmt(s.max, decimals);
  return min === max ? median : `${median} (${min}–${max})`;
}

/**
 * A fixed-size log-linear latency histogram: 8 buckets per power of two of microseconds, from
 * 1 us to about 38 hours. Recording is one Math.log2 and one array increment; percentiles are
 * accurate to the bucket width (about 9%).
 * @internal
 * @module
 */
const SUB_BUCKETS = 8;
const POWERS = 38;
export const LATENCY_BUCKETS = SUB_BUCKETS * POWERS;

/** The bucket of a latency in milliseconds. */
export function latencyBucket(ms: number): number {
  const us = ms * 1000;
  if (!(us >= 1)) return 0;
  const power = Math.floor(Math.log2(us));
  if (power >= POWERS) return LATENCY_BUCKETS - 1;
  const sub = Math.floor((us / 2 ** power - 1) * SUB_BUCKETS);
  return power * SUB_BUCKETS + Math.min(sub, SUB_BUCKETS - 1);
}

/** The middle of a bucket, in milliseconds. */
export function bucketMiddleMs(bucket: number): number {
  const power = Math.floor(bucket / SUB_BUCKETS);
  const sub = bucket % SUB_BUCKETS;
  return (2 ** power * (1 + (sub + 0.5) / SUB_BUCKETS)) / 1000;
}

/** The q-quantile (0..1) of the histogram stored at `buckets[offset .. offset + LATENCY_BUCKETS)`,
 * or null when it holds no sample. */
export function latencyQuantile(buckets: ArrayLike<number>, offset: number, q: number): number | null {
  let total = 0;
  for (let b = 0; b < LATENCY_BUCKETS; b++) total += buckets[offset + b]!;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let b = 0; b < LATENCY_BUCKETS; b++) {
    seen += buckets[offset + b]!;
    if (seen >= rank) return Math.round(bucketMiddleMs(b) * 1000) / 1000;
  }
  return null;
}

/** The non-empty buckets of the histogram at `offset`, as `[middle in ms, count]`, fastest first
 * (the form a rank test needs: one group of ties per bucket). */
export function latencyHistogram(buckets: ArrayLike<number>, offset: number): [ms: number, count: number][] {
  const histogram: [number, number][] = [];
  for (let b = 0; b < LATENCY_BUCKETS; b++) {
    const count = buckets[offset + b]!;
    if (count > 0) histogram.push([Math.round(bucketMiddleMs(b) * 1000) / 1000, count]);
  }
  return histogram;
}

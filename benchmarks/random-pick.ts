/**
 * The baseline the library improves on: a weighted *random* pick (what Envoy and grpc-js-xds's
 * `weighted_target` do), with a seeded PRNG so every run draws the same numbers.
 * @module
 */

/**
 * mulberry32: a tiny 32-bit PRNG, uniform on [0, 1). Seeded, so a bench's random baseline is
 * reproducible; statistically it is as good as `Math.random` for picking among a few subsets.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Running sums of `weights`: `[w0, w0 + w1, ...]`. */
export function cumulative(weights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) out[i] = sum += weights[i]!;
  return out;
}

/** A random weighted pick by linear scan of the cumulative weights: O(n). */
export function pickLinear(cum: Float64Array, random: number): number {
  const target = random * cum[cum.length - 1]!;
  const last = cum.length - 1;
  for (let i = 0; i < last; i++) if (target < cum[i]!) return i;
  return last;
}

/** The same pick by binary search over the cumulative weights: O(log n). */
export function pickBinary(cum: Float64Array, random: number): number {
  const target = random * cum[cum.length - 1]!;
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (target < cum[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** `count` random weighted picks with a seeded PRNG. */
export function randomSequence(weights: readonly number[], count: number, seed: number): Int16Array {
  const cum = cumulative(weights);
  const random = seededRandom(seed);
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = pickBinary(cum, random());
  return out;
}

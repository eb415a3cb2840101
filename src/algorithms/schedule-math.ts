/** Arithmetic of the weighted schedule that needs none of its state (see docs/scheduler.md). @module */

/** `sum(w) / gcd(w)` when every weight is an integer (and the sum is safe), else 0. */
export function integerCycleLength(weights: Float64Array): number {
  let divisor = 0;
  let total = 0;
  for (const w of weights) {
    if (w === 0) continue;
    if (!Number.isSafeInteger(w)) return 0;
    divisor = gcd(divisor, w);
    total += w;
  }
  return divisor === 0 || !Number.isSafeInteger(total) ? 0 : total / divisor;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * After the set of active items changed: drops the lag of inactive items, shifts the others in
 * proportion to their shares so the lags sum to 0, and shrinks them all (keeping the sum) when
 * one would be a call or more away from its share.
 */
export function recentre(lags: Float64Array, weights: Float64Array, total: number): void {
  let sum = 0;
  for (let i = 0; i < lags.length; i++) {
    if (weights[i] === 0) lags[i] = 0;
    sum += lags[i]!;
  }
  let largest = 0;
  for (let i = 0; i < lags.length; i++) {
    if (weights[i] === 0) continue;
    lags[i]! -= (weights[i]! / total) * sum;
    largest = Math.max(largest, Math.abs(lags[i]!));
  }
  if (largest >= 0.99) for (let i = 0; i < lags.length; i++) lags[i]! *= 0.99 / largest;
}

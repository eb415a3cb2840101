/** Arithmetic of the weighted schedule that needs none of its state (see docs/scheduler.md). @module */

/**
 * `ceil(a / b)` for b > 0, exact for integers whose products stay below 2^53: the quotient is
 * rounded once by the division, then corrected by one multiplication each way.
 */
export function ceilDiv(a: number, b: number): number {
  let q = Math.ceil(a / b);
  if (q * b < a) q++;
  else if ((q - 1) * b >= a) q--;
  return q;
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

/** The least integer q with `q * b > a`, for b > 0: `floor(a / b) + 1`, corrected as `ceilDiv` is. */
export function firstAbove(a: number, b: number): number {
  let q = Math.floor(a / b) + 1;
  if (q * b <= a) q++;
  else if ((q - 1) * b > a) q--;
  return q;
}

/** The greatest common divisor of two non-negative integers. */
export function gcd(a: number, b: number): number {
  // Below 2^31 the remainder is an integer instruction; above, a floating-point one, many times slower.
  if ((a | 0) === a && (b | 0) === b) {
    let x = a | 0;
    let y = b | 0;
    while (y !== 0) {
      const rest = x % y;
      x = y;
      y = rest;
    }
    return x;
  }
  while (b !== 0) {
    const rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

/** The gcd of the positive weights, -1 when one of them is not an integer, 0 when none is positive. */
export function weightsDivisor(weights: ArrayLike<number>): number {
  let divisor = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (w === 0) continue;
    if (!Number.isInteger(w)) return -1;
    divisor = gcd(divisor, w);
  }
  return divisor;
}

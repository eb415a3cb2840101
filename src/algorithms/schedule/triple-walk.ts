/**
 * The three-item walk of the weighted schedule: which of three items takes the next pick, from
 * their lags and one uniform number. It keeps every lag in (-1, 1) whatever the weights do, and,
 * from a start at lag 0, gives each pick to each item with exactly its share in force as its
 * chance. The derivation is in docs/scheduler.md ("Three active items"); read it before changing
 * a case here.
 * @module
 */

/**
 * One pick among three items.
 *
 * Each lag is `picks - summed shares`, times `total`: the three sum to 0 and lie in
 * (-total, total). An item is *behind* when its lag is negative; its fractional part times
 * `total` is then `total + lag`, else `lag`. A behind item whose fractional part is at most its
 * weight is forced (skipping it would take its lag to -1 or below); at most one can be.
 *
 * @param lags the three lags times `total`
 * @param weights the three weights, each > 0
 * @param total `weights[0] + weights[1] + weights[2]`
 * @param u a uniform number in [0, 1)
 * @returns 0, 1 or 2
 */
export function pickOfThree(lags: Float64Array, weights: Float64Array, total: number, u: number): number {
  let behind = 0;
  let ahead = -1;
  let single = -1;
  for (let k = 0; k < 3; k++) {
    const lag = lags[k]!;
    if (lag < 0) {
      if (total + lag <= weights[k]!) return k;
      behind++;
      single = k;
    } else {
      ahead = k;
    }
  }
  if (behind === 0) return byWeight(weights, u * total);
  if (behind === 1) return oneBehind(lags, weights, total, single, u);
  return oneAhead(lags, weights, total, ahead, u);
}

/** All lags 0: by weight. */
function byWeight(weights: Float64Array, x: number): number {
  if (x < weights[0]!) return 0;
  return x < weights[0]! + weights[1]! ? 1 : 2;
}

/**
 * One item `b` behind (not forced): it is taken with probability `w_b / f_b`, its share over
 * its fractional part; the rest goes to the two others in proportion to `w - lag` (an item
 * ahead by its weight or more gets none: taking it would put its lag at 1 or above).
 */
function oneBehind(lags: Float64Array, weights: Float64Array, total: number, b: number, u: number): number {
  const fraction = total + lags[b]!;
  const x = u * fraction;
  const wb = weights[b]!;
  if (x < wb) return b;
  const c = b === 0 ? 1 : 0;
  const d = b === 2 ? 1 : 2;
  const room = Math.max(0, weights[c]! - lags[c]!);
  const other = Math.max(0, weights[d]! - lags[d]!);
  // (x - wb) / (fraction - wb) is uniform in [0, 1); compare without dividing.
  return (x - wb) * (room + other) < room * (fraction - wb) ? c : d;
}

/**
 * Two items behind (neither forced), `a` ahead. When `a` can be taken (lag <= weight), `a` gets
 * `(w_a - lag_a) / (total - lag_a)` and each behind item `w / (total - lag_a)`. Otherwise no
 * item crosses an integer of its summed share at this pick, and the split between the two
 * behind items is the transport flow of docs/scheduler.md ("the triangle").
 */
function oneAhead(lags: Float64Array, weights: Float64Array, total: number, a: number, u: number): number {
  const lagA = lags[a]!;
  const b = a === 0 ? 1 : 0;
  const c = a === 2 ? 1 : 2;
  if (lagA <= weights[a]!) {
    const x = u * (total - lagA);
    const first = weights[a]! - lagA;
    if (x < first) return a;
    return x < first + weights[b]! ? b : c;
  }
  // Room of each state (1 - its item's fractional part, times total): the chance that this item
  // is the one ahead. State k sends z_k to item k+1 and room_k - z_k to item k+2 (mod 3).
  const room0 = roomOf(lags, total, 0);
  const room1 = roomOf(lags, total, 1);
  const room2 = roomOf(lags, total, 2);
  const z2 = room2 - weights[1]!;
  const z1 = z2 + room1 - weights[0]!;
  // Every solution is (0, z1, z2) + lambda: take the middle of the feasible lambdas.
  const low = Math.max(0, -z1, -z2);
  const high = Math.min(room0, room1 - z1, room2 - z2);
  const lambda = (low + high) / 2;
  const toNext = (a === 0 ? 0 : a === 1 ? z1 : z2) + lambda;
  const roomA = a === 0 ? room0 : a === 1 ? room1 : room2;
  return u * roomA < toNext ? (a + 1) % 3 : (a + 2) % 3;
}

function roomOf(lags: Float64Array, total: number, k: number): number {
  const lag = lags[k]!;
  return lag < 0 ? -lag : total - lag;
}

/**
 * The deterministic weighted schedule: no gRPC imports, no clock, no randomness.
 *
 * Algorithm: WF2Q, the "earliest eligible virtual deadline first" rule of fair queueing
 * (Bennett and Zhang, 1996; Stoica et al.'s EEVDF). Item i has share `s_i = w_i / W`. After t
 * picks, of which c_i went to i:
 * - i is *eligible* when it is not ahead of its share: `c_i <= t * s_i` (its virtual start time
 *   `c_i / s_i` has come);
 * - among eligible items the one with the earliest virtual deadline `(c_i + 1) / s_i` is picked,
 *   ties to the lower index.
 * Eligibility is what plain earliest-deadline-first lacks: with weights 1,1,1,1,1,1,1 and 100,
 * EDF hands the seven small items their turns back to back and the large one falls 6.5 calls
 * behind in that window; here every item stays within one pick of its share at every prefix.
 *
 * Guarantees (pinned by test/scheduler.test.ts):
 * - after any number of picks, every item's count is within one pick of `t * s_i` (WF2Q's lag
 *   bound), so every window of consecutive picks is within two;
 * - with two items, every window is within one pick of its ideal, whatever its length and start
 *   (90/10 gives exactly one v2 pick in every ten);
 * - weight 0 is never picked; fractional weights are exact ratios (0.5 and 1 give 1 : 2).
 *
 * Cost: O(log n) per pick over two binary heaps, no allocation. Keys are compared by cross
 * multiplication (`(c_a + 1) * w_b < (c_b + 1) * w_a`) rather than by stored quotients, so
 * integer weights compare exactly and no rounding error accumulates over a long run.
 */
export class WeightedSchedule {
  private readonly weights: Float64Array;
  private readonly counts: Float64Array;
  private readonly total: number;
  /** Items whose virtual start has come, by virtual deadline. */
  private readonly eligible: ShareHeap;
  /** Items ahead of their share, by virtual start. */
  private readonly waiting: ShareHeap;
  private picks = 0;
  readonly activeCount: number;

  /**
   * @param weights one weight per item, indexed as the items are: finite and >= 0 (validation is
   *   the caller's, see `validateWeights`). Items of weight 0 are never picked.
   */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.weights = new Float64Array(n);
    this.counts = new Float64Array(n);
    let total = 0;
    let active = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (w > 0) {
        this.weights[i] = w;
        total += w;
        active++;
      }
    }
    this.total = total;
    this.activeCount = active;
    this.eligible = new ShareHeap(active, this.counts, this.weights, 1);
    this.waiting = new ShareHeap(active, this.counts, this.weights, 0);
    for (let i = 0; i < n; i++) if (this.weights[i]! > 0) this.eligible.push(i);
  }

  /** The index of the next item, or -1 when no item has a positive weight. */
  next(): number {
    if (this.activeCount === 0) return -1;
    const i = this.peek();
    this.eligible.pop();
    this.counts[i]!++;
    this.picks++;
    this.waiting.push(i);
    return i;
  }

  /** The index `next()` would return, without taking it. -1 when nothing can be picked. */
  peek(): number {
    if (this.activeCount === 0) return -1;
    const { waiting, eligible, counts, weights, total } = this;
    const t = this.picks;
    // c_i <= t * w_i / W, multiplied out: an item becomes eligible once its share has caught up.
    while (waiting.size > 0) {
      const i = waiting.top();
      if (counts[i]! * total > t * weights[i]!) break;
      waiting.pop();
      eligible.push(i);
    }
    // Some item is always eligible (the counts sum to t, the shares to 1); rounding of
    // fractional weights could still hide it, so fall back to the earliest start.
    if (eligible.size === 0) eligible.push(waiting.pop());
    return eligible.top();
  }
}

/**
 * A binary min-heap of item indices keyed by `(counts[i] + offset) / weights[i]`, ties to the
 * lower index. Offset 0 orders by virtual start, offset 1 by virtual deadline.
 */
class ShareHeap {
  private readonly items: Int32Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly counts: Float64Array,
    private readonly weights: Float64Array,
    private readonly offset: number,
  ) {
    this.items = new Int32Array(capacity);
  }

  top(): number {
    return this.items[0]!;
  }

  push(item: number): void {
    const items = this.items;
    let k = this.size++;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (!this.before(item, items[parent]!)) break;
      items[k] = items[parent]!;
      k = parent;
    }
    items[k] = item;
  }

  pop(): number {
    const items = this.items;
    const top = items[0]!;
    const last = items[--this.size]!;
    const size = this.size;
    let k = 0;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= size) break;
      if (child + 1 < size && this.before(items[child + 1]!, items[child]!)) child++;
      if (!this.before(items[child]!, last)) break;
      items[k] = items[child]!;
      k = child;
    }
    if (size > 0) items[k] = last;
    return top;
  }

  private before(a: number, b: number): boolean {
    const left = (this.counts[a]! + this.offset) * this.weights[b]!;
    const right = (this.counts[b]! + this.offset) * this.weights[a]!;
    return left < right || (left === right && a < b);
  }
}

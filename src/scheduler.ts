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
 * Cost: O(log n) per pick over two binary heaps, no allocation. Heap keys are quotients
 * `(c_i + offset) / w_i` computed afresh from the counts whenever an item enters a heap, never
 * accumulated, so no rounding error builds up; equal rationals give the same double (division is
 * correctly rounded), so exact ties stay ties. The eligibility test is cross-multiplied.
 *
 * Replay: with integer weights the sequence is periodic. After `W / gcd` picks every count is
 * exactly its share (the lag is below one and the ideal is an integer), which is the starting
 * state scaled, so the same picks follow. When that cycle is at most MAX_CYCLE picks long, the
 * first cycle is recorded as it is computed and then replayed: a pick becomes an array read
 * (90/10 replays a cycle of 10 after the first 10 picks). Recording happens on the call path,
 * one pick at a time, so building a schedule (on every weight change) stays O(n).
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
  /** The first cycle's picks, when the weights are integers and the cycle is short enough. */
  private readonly cycle: Uint16Array | null;
  /** Position in `cycle` once the first cycle is recorded; -1 while recording. */
  private replayAt = -1;

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
    const cycleLength = integerCycleLength(this.weights);
    this.cycle = cycleLength > 0 && cycleLength <= MAX_CYCLE && n <= 0xffff ? new Uint16Array(cycleLength) : null;
    this.eligible = new ShareHeap(active, this.counts, this.weights, 1);
    this.waiting = new ShareHeap(active, this.counts, this.weights, 0);
    for (let i = 0; i < n; i++) if (this.weights[i]! > 0) this.eligible.push(i);
  }

  /** The index of the next item, or -1 when no item has a positive weight. */
  next(): number {
    const cycle = this.cycle;
    if (cycle !== null && this.replayAt >= 0) {
      const i = cycle[this.replayAt]!;
      this.replayAt = this.replayAt + 1 === cycle.length ? 0 : this.replayAt + 1;
      return i;
    }
    if (this.activeCount === 0) return -1;
    const i = this.peek();
    this.eligible.pop();
    this.counts[i]!++;
    this.waiting.push(i);
    if (cycle !== null) {
      cycle[this.picks] = i;
      if (this.picks + 1 === cycle.length) this.replayAt = 0;
    }
    this.picks++;
    return i;
  }

  /** The index `next()` would return, without taking it. -1 when nothing can be picked. */
  peek(): number {
    if (this.cycle !== null && this.replayAt >= 0) return this.cycle[this.replayAt]!;
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

/** Longest cycle replayed from a table (2 bytes a pick: 16 KiB). */
const MAX_CYCLE = 8192;

/** `sum(w) / gcd(w)` when every weight is an integer (and the sum is safe), else 0. */
function integerCycleLength(weights: Float64Array): number {
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
 * A binary min-heap of item indices keyed by `(counts[i] + offset) / weights[i]`, ties to the
 * lower index. Offset 0 orders by virtual start, offset 1 by virtual deadline. An item's key is
 * computed when it is pushed; counts only change while an item is in neither heap.
 */
class ShareHeap {
  private readonly items: Int32Array;
  /** Key of each item, by item index. */
  private readonly keys: Float64Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly counts: Float64Array,
    private readonly weights: Float64Array,
    private readonly offset: number,
  ) {
    this.items = new Int32Array(capacity);
    this.keys = new Float64Array(weights.length);
  }

  top(): number {
    return this.items[0]!;
  }

  push(item: number): void {
    const { items, keys } = this;
    const key = (this.counts[item]! + this.offset) / this.weights[item]!;
    keys[item] = key;
    let k = this.size++;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      const other = items[parent]!;
      const otherKey = keys[other]!;
      if (key > otherKey || (key === otherKey && item > other)) break;
      items[k] = other;
      k = parent;
    }
    items[k] = item;
  }

  pop(): number {
    const { items, keys } = this;
    const top = items[0]!;
    const last = items[--this.size]!;
    const lastKey = keys[last]!;
    const size = this.size;
    let k = 0;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= size) break;
      let childItem = items[child]!;
      let childKey = keys[childItem]!;
      if (child + 1 < size) {
        const right = items[child + 1]!;
        const rightKey = keys[right]!;
        if (rightKey < childKey || (rightKey === childKey && right < childItem)) {
          child++;
          childItem = right;
          childKey = rightKey;
        }
      }
      if (lastKey < childKey || (lastKey === childKey && last < childItem)) break;
      items[k] = childItem;
      k = child;
    }
    if (size > 0) items[k] = last;
    return top;
  }
}

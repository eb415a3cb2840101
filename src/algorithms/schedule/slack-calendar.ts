/**
 * The slack calendar of the weighted schedule for four or more items: how many jobs fall due at
 * each of the next `size` picks, and the first pick by which the jobs due fill every pick up to
 * it (the first *tight* pick). See docs/scheduler.md ("Four or more active items").
 * @module
 */

/**
 * A circular window of `size` slots (a power of two), slot `p & (size - 1)` for pick number
 * `p`, over a segment tree of the values `1 - due`: the slack up to a pick is the sum of the
 * values from the window's start to it. Each node keeps the sum of its slots and the least
 * prefix sum within them, so a slot update and a first-tight search are O(log size).
 */
export class SlackCalendar {
  private sums = new Int32Array(2);
  private leastPrefix = new Int32Array(2);
  private size = 1;
  /** The prefix sum at the pick the last `firstTight` found. */
  slackThere = 0;

  /** Sets the window size (a power of two) and every slot from `due`, indexed by slot. */
  rebuild(size: number, due: Int32Array): void {
    if (this.sums.length < 2 * size) {
      this.sums = new Int32Array(2 * size);
      this.leastPrefix = new Int32Array(2 * size);
    }
    this.size = size;
    for (let s = 0; s < size; s++) {
      this.sums[size + s] = 1 - due[s]!;
      this.leastPrefix[size + s] = 1 - due[s]!;
    }
    for (let k = size - 1; k >= 1; k--) this.pull(k);
  }

  /** Slot `slot` now has `due` jobs. */
  set(slot: number, due: number): void {
    let k = this.size + slot;
    this.sums[k] = 1 - due;
    this.leastPrefix[k] = 1 - due;
    for (k >>= 1; k >= 1; k >>= 1) this.pull(k);
  }

  /** Slots `first` to `first + count - 1` (no wrap) now have `due[slot]` jobs: one pass per level. */
  setRange(first: number, count: number, due: Int32Array): void {
    const { size } = this;
    for (let s = first; s < first + count; s++) {
      this.sums[size + s] = 1 - due[s]!;
      this.leastPrefix[size + s] = 1 - due[s]!;
    }
    let low = (size + first) >> 1;
    let high = (size + first + count - 1) >> 1;
    for (; low >= 1; low >>= 1, high >>= 1) for (let k = low; k <= high; k++) this.pull(k);
  }

  /**
   * The first offset `k` (0 .. size-1) such that the slots from `start` through `start + k`
   * (circularly) hold at least `k + 1` jobs, i.e. the slack there is 0 or less; -1 if none.
   * Sets `slackThere` to that slack.
   */
  firstTight(start: number): number {
    const { sums, leastPrefix, size } = this;
    let slack = 0;
    // [start, size): the canonical nodes of a range ending at the right edge, left to right.
    for (let l = start + size, r = 2 * size; l < r; l >>= 1, r >>= 1) {
      if ((l & 1) === 0) continue;
      if (slack + leastPrefix[l]! <= 0) return this.descend(l, slack) - start;
      slack += sums[l]!;
      l++;
    }
    if (start === 0) return -1;
    // [0, start): walk down from the root, taking every left child that lies wholly inside.
    let node = 1;
    let low = 0;
    for (let half = size >> 1; half >= 1; half >>= 1) {
      const left = 2 * node;
      if (low + half <= start) {
        if (slack + leastPrefix[left]! <= 0) return this.descend(left, slack) + size - start;
        slack += sums[left]!;
        node = left + 1;
        low += half;
      } else {
        node = left;
      }
    }
    if (low < start && slack + sums[node]! <= 0) {
      this.slackThere = slack + sums[node]!;
      return low + size - start;
    }
    return -1;
  }

  /** Inside `node`, whose prefix reaches 0 or less from `slack`: the first such slot. */
  private descend(node: number, slack: number): number {
    const { sums, leastPrefix, size } = this;
    while (node < size) {
      const left = 2 * node;
      if (slack + leastPrefix[left]! <= 0) {
        node = left;
      } else {
        slack += sums[left]!;
        node = left + 1;
      }
    }
    this.slackThere = slack + sums[node]!;
    return node - size;
  }

  private pull(k: number): void {
    const left = 2 * k;
    const leftSum = this.sums[left]!;
    this.sums[k] = leftSum + this.sums[left + 1]!;
    const viaRight = leftSum + this.leastPrefix[left + 1]!;
    const own = this.leastPrefix[left]!;
    this.leastPrefix[k] = own < viaRight ? own : viaRight;
  }
}

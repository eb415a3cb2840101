/**
 * Walker's alias method (with Vose's construction): a draw by weight in O(1) from one uniform
 * number, after an O(n) build. The weighted schedule proposes its candidates with it.
 * @module
 */

/** Draws an index with probability proportional to its weight; zero weights are never drawn. */
export class AliasTable {
  private readonly keep: Float64Array;
  private readonly other: Int32Array;
  // Work lists of the build, kept so a rebuild allocates nothing.
  private readonly small: Int32Array;
  private readonly large: Int32Array;
  private readonly scaled: Float64Array;

  constructor(capacity: number) {
    this.keep = new Float64Array(capacity);
    this.other = new Int32Array(capacity);
    this.small = new Int32Array(capacity);
    this.large = new Int32Array(capacity);
    this.scaled = new Float64Array(capacity);
  }

  /** Rebuilds the table for `weights` (>= 0, summing to `total` > 0). */
  build(weights: Float64Array, total: number): void {
    const n = weights.length;
    const { keep, other, small, large, scaled } = this;
    let smalls = 0;
    let larges = 0;
    for (let i = 0; i < n; i++) {
      scaled[i] = (weights[i]! * n) / total;
      other[i] = i;
      if (scaled[i]! < 1) small[smalls++] = i;
      else large[larges++] = i;
    }
    while (smalls > 0 && larges > 0) {
      const s = small[--smalls]!;
      const l = large[--larges]!;
      keep[s] = scaled[s]!;
      other[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) small[smalls++] = l;
      else large[larges++] = l;
    }
    // What is left is 1 up to rounding; a zero weight left here would be kept by rounding alone,
    // so it defers to an index of positive weight.
    while (larges > 0) keep[large[--larges]!] = 1;
    while (smalls > 0) {
      const s = small[--smalls]!;
      keep[s] = weights[s]! > 0 ? 1 : 0;
      if (weights[s] === 0) other[s] = this.anyPositive(weights);
    }
  }

  /**
   * The part of the last draw's number it did not use, as `restOver / restUnder`: uniform in
   * [0, 1) and independent of the index drawn, a second draw for the caller without another call
   * to the source (kept as a fraction so a caller that only compares it divides nothing).
   */
  restOver = 0;
  restUnder = 1;

  /** An index drawn by weight, from `u` uniform in [0, 1); sets the rest. */
  draw(u: number): number {
    const x = u * this.keep.length;
    const k = x | 0;
    const coin = x - k;
    const keep = this.keep[k]!;
    if (coin < keep) {
      this.restOver = coin;
      this.restUnder = keep;
      return k;
    }
    this.restOver = coin - keep;
    this.restUnder = 1 - keep;
    return this.other[k]!;
  }

  private anyPositive(weights: Float64Array): number {
    for (let i = 0; i < weights.length; i++) if (weights[i]! > 0) return i;
    return 0;
  }
}

/**
 * The slack of the next 32 picks of the weighted schedule's job ring (job-ring.ts): at lane k
 * (pick p + k), k + 1 less the jobs due by then, kept bit-sliced (bit k of plane b is bit b of lane
 * k's slack, 0 to 63) so that moving on a pick, taking one from a run of lanes and finding the
 * first lane at 0 are a few word operations, with no loop and no branch.
 * @module
 */

/** Lanes: one bit each in a 32-bit word. */
export const LANES = 32;

/** Six bit planes of 32 lanes. */
export class SlackLanes {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private s4 = 0;
  private s5 = 0;
  /** Lane 31's slack. */
  private last = 0;

  /** The first lane at 0 (the first tight pick), or -1. */
  firstTight(): number {
    const zero = ~(this.s0 | this.s1 | this.s2 | this.s3 | this.s4 | this.s5);
    return zero === 0 ? -1 : 31 - Math.clz32(zero & -zero);
  }

  /**
   * Moves every lane down one (lane 0 goes, lane 31 is 0 until `append`) and takes one from the
   * lanes of `mask`, which must all be above 0 (a bit-sliced subtraction, borrow by borrow).
   */
  shift(mask: number): void {
    this.last -= (mask >>> 30) & 1;
    let borrow = mask;
    let plane = this.s0 >>> 1;
    this.s0 = plane ^ borrow;
    borrow &= ~plane;
    plane = this.s1 >>> 1;
    this.s1 = plane ^ borrow;
    borrow &= ~plane;
    plane = this.s2 >>> 1;
    this.s2 = plane ^ borrow;
    borrow &= ~plane;
    plane = this.s3 >>> 1;
    this.s3 = plane ^ borrow;
    borrow &= ~plane;
    plane = this.s4 >>> 1;
    this.s4 = plane ^ borrow;
    borrow &= ~plane;
    this.s5 = (this.s5 >>> 1) ^ borrow;
  }

  /** Sets lane 31 (empty after `shift`) to lane 30's slack plus one, less `due` (at least 0). */
  append(due: number): void {
    // Lane 30 is the old lane 31, less one if `shift` took one from it.
    this.last = Math.max(0, this.last + 1 - due);
    this.set(31, this.last);
  }

  /**
   * Every lane from a circular calendar of jobs due: lane k from `due[(first + k) & mask]` (a slack
   * below 0, only after weights the lags cannot meet, is kept at 0).
   */
  recompute(due: Int32Array, first: number, mask: number): void {
    this.s0 = this.s1 = this.s2 = this.s3 = this.s4 = this.s5 = 0;
    let slack = 0;
    for (let k = 0; k < LANES; k++) {
      slack = Math.max(0, slack + 1 - due[(first + k) & mask]!);
      this.set(k, slack);
    }
    this.last = slack;
  }

  /** ORs `slack` into lane k (which must be 0). */
  private set(k: number, slack: number): void {
    this.s0 |= (slack & 1) << k;
    this.s1 |= ((slack >> 1) & 1) << k;
    this.s2 |= ((slack >> 2) & 1) << k;
    this.s3 |= ((slack >> 3) & 1) << k;
    this.s4 |= ((slack >> 4) & 1) << k;
    this.s5 |= ((slack >> 5) & 1) << k;
  }
}

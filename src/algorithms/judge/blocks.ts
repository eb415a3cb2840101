/**
 * Calls of two versions grouped into blocks that each hold calls of both, so that one number
 * per block compares them with a known mean: the sequential tests bet on these numbers.
 * @module
 */

/** Which version a call ran on. */
export const CANARY = 0;
export const BASELINE = 1;
export type Side = typeof CANARY | typeof BASELINE;

/**
 * Most calls of one side kept for a latency block: the rest of a long run of one side is
 * dropped, the oldest first. Dropping by arrival order, never by value, keeps blocks unbiased.
 */
export const LATENCY_BLOCK_SIZE = 8;

/**
 * A block closes at the first call of one side after calls of the other: it then holds that one
 * call and every pending call of the other side. Calls at 90/10 make blocks of one canary call
 * and about nine baseline calls; at 50/50 blocks of one and one. Which calls share a block
 * depends only on the order of sides, so when calls of a version are independent and alike,
 * and their order does not depend on their outcomes, every block's number has the same mean
 * and is independent of the blocks before it.
 */
export interface BlockFormer {
  /** Adds a call; returns the closed block's number, or NaN when no block closed. */
  observe(side: Side, value: number): number;
  /** The last closed block's number without the margin (a latency's at ratio 1). */
  readonly unscaled: number;
}

/**
 * Blocks of failures (value 1) and successes (value 0). A block's number is the canary's
 * failure rate in the block minus the baseline's: in [-1, 1], with mean the difference of the
 * two versions' failure rates.
 */
export class RateBlocks implements BlockFormer {
  unscaled = NaN;
  /** Calls waiting for a call of the other side, all of `pendingSide`. */
  private pendingCalls = 0;
  private pendingFailures = 0;
  private pendingSide: Side = CANARY;

  observe(side: Side, value: number): number {
    if (this.pendingCalls > 0 && this.pendingSide !== side) {
      const other = this.pendingFailures / this.pendingCalls;
      this.pendingCalls = 0;
      this.pendingFailures = 0;
      this.unscaled = side === CANARY ? value - other : other - value;
      return this.unscaled;
    }
    this.pendingSide = side;
    this.pendingCalls++;
    this.pendingFailures += value;
    return NaN;
  }
}

/**
 * Blocks of latencies. A block's number is the share of its (canary, baseline) pairs where the
 * canary took longer than `ratio` times the baseline, ties counting 1/2: in [0, 1], with mean
 * θ = P(C > ratio·B) + P(C = ratio·B)/2 for a canary latency C and an independent baseline
 * latency B. θ > 1/2 means the median of C / B exceeds `ratio`; when the canary's latencies are
 * the baseline's scaled by s, that is s > ratio.
 */
export class LatencyBlocks implements BlockFormer {
  unscaled = NaN;
  private readonly pending = new Float64Array(LATENCY_BLOCK_SIZE);
  private pendingCount = 0;
  /** Where the next pending value goes (a ring: the oldest is overwritten). */
  private next = 0;
  private pendingSide: Side = CANARY;

  constructor(readonly ratio: number) {}

  observe(side: Side, value: number): number {
    if (this.pendingCount > 0 && this.pendingSide !== side) {
      let slower = 0;
      let slowerAtAll = 0;
      for (let i = 0; i < this.pendingCount; i++) {
        const canary = side === CANARY ? value : this.pending[i]!;
        const baseline = side === CANARY ? this.pending[i]! : value;
        slower += compare(canary, this.ratio * baseline);
        slowerAtAll += compare(canary, baseline);
      }
      const share = slower / this.pendingCount;
      this.unscaled = slowerAtAll / this.pendingCount;
      this.pendingCount = 0;
      this.next = 0;
      return share;
    }
    this.pendingSide = side;
    this.pending[this.next] = value;
    this.next = (this.next + 1) % LATENCY_BLOCK_SIZE;
    this.pendingCount = Math.min(this.pendingCount + 1, LATENCY_BLOCK_SIZE);
    return NaN;
  }
}

/** 1 when the canary is slower, 1/2 for a tie, else 0. */
function compare(canary: number, baseline: number): number {
  return canary > baseline ? 1 : canary === baseline ? 0.5 : 0;
}

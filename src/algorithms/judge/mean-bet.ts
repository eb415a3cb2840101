/**
 * A one-sided sequential test of "the mean of bounded observations is at most `bound`", valid
 * however often it is looked at: testing by betting (Shafer 2021, "Testing by betting";
 * Waudby-Smith and Ramdas 2023, "Estimating means of bounded random variables by betting").
 * @module
 */

/** Share of the worst case a bet may lose at once: each factor stays >= 1 - BET_CAP. */
const BET_CAP = 0.75;

/**
 * The wealth W_n = Π (1 + λ_i (y_i - bound)) of a gambler betting λ_i >= 0, chosen before y_i
 * is seen, that each observation exceeds `bound`. When every observation's mean, given the
 * past, is at most `bound`, W is a non-negative supermartingale with W_0 = 1, so by Ville's
 * inequality P(W_n >= 1/alpha for some n) <= alpha: the test may be checked after every
 * observation, forever. Assumes only that each y_i lies in [low, ∞) and that its conditional
 * mean is at most `bound` under the null; nothing about its distribution.
 *
 * λ_i follows aGRAPA (Waudby-Smith and Ramdas, section 5): (μ - bound) / (σ² + (μ - bound)²)
 * from the running mean μ and variance σ² of the earlier observations, clipped to
 * [0, BET_CAP / (bound - low)] so a factor never drops below 1 - BET_CAP. O(1) per observation,
 * no allocation.
 */
export class MeanBet {
  /** Observations seen. */
  count = 0;
  /** ln of the wealth (ln of the e-value). */
  logWealth = 0;
  /** `count` when the wealth first reached 1/alpha; -1 before. Never reset. */
  firedAt = -1;
  /** Running sums for the regularised mean and variance (prior: one observation at `bound`). */
  private sum = 0;
  private squares: number;
  private readonly cap: number;
  private readonly threshold: number;

  /**
   * @param bound the largest mean of the null hypothesis.
   * @param low the smallest value an observation can take (below `bound`).
   * @param high the largest value an observation can take (only sets the prior variance).
   * @param alpha the accepted chance of ever firing under the null, in (0, 1).
   */
  constructor(
    readonly bound: number,
    readonly low: number,
    high: number,
    readonly alpha: number,
  ) {
    this.cap = BET_CAP / (bound - low);
    // The prior variance is the largest a value in [low, high] can have: early bets stay small.
    this.squares = ((high - low) / 2) ** 2;
    this.threshold = Math.log(1 / alpha);
  }

  /** The e-value: the wealth, 1 at the start. */
  get eValue(): number {
    return Math.exp(this.logWealth);
  }

  /** Whether the wealth has ever reached 1/alpha (the null is rejected, for good). */
  get fired(): boolean {
    return this.firedAt >= 0;
  }

  /** The mean of the observations so far (NaN before the first). */
  get mean(): number {
    return this.sum / this.count;
  }

  /** Bets on `y`, then learns from it. Returns `fired`. */
  observe(y: number): boolean {
    const n = this.count;
    // The regularised estimates of the earlier observations only: the bet is predictable.
    const excess = (this.bound + this.sum) / (n + 1) - this.bound;
    const variance = this.squares / (n + 1);
    const lambda = excess > 0 ? Math.min(excess / (variance + excess * excess), this.cap) : 0;
    this.logWealth += Math.log1p(lambda * (y - this.bound));
    this.count = n + 1;
    this.sum += y;
    const deviation = y - (this.bound + this.sum) / (n + 2);
    this.squares += deviation * deviation;
    if (this.firedAt < 0 && this.logWealth >= this.threshold) this.firedAt = this.count;
    return this.firedAt >= 0;
  }
}

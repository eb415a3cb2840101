/**
 * The two one-sided sequential tests of one metric at its margin, betting on the same blocks.
 * @module
 */
import { MeanBet } from './mean-bet.js';

/** A rate (failures among calls: value 1 or 0) or a latency (a duration, any unit). */
export type MetricKind = 'rate' | 'latency';

/**
 * What a rollback needs. `beyond-margin`: evidence that the canary is worse than the margin
 * allows (the chance of a false rollback is bounded for every canary within the margin).
 * `any-regression`: evidence that the canary is worse at all, while the estimate is beyond the
 * margin, as `judgeCanary()` asks of its fixed tests (bounded only for a canary no worse than
 * the baseline; faster when the regression is close to the margin).
 */
export type RegressionEvidence = 'beyond-margin' | 'any-regression';

/**
 * `regression` rejects "the canary is within the margin" (or "no worse", see
 * `RegressionEvidence`), `equivalence` rejects "the canary is beyond the margin". For a rate
 * the block number is a difference of failure rates and the margin the largest accepted
 * increase, in [0, 1); for a latency it is the share of pairs where the canary is slower than
 * `margin` times the baseline, and the boundary is 1/2 (see `LatencyBlocks`).
 */
export class MarginTests {
  readonly regression: MeanBet;
  equivalence: MeanBet;
  /** Blocks seen, and the sum of their numbers at the margin (for the estimate). */
  blocks = 0;
  private sum = 0;

  constructor(
    readonly kind: MetricKind,
    readonly margin: number,
    regressionAlpha: number,
    private readonly equivalenceAlpha: number,
    readonly evidence: RegressionEvidence = 'beyond-margin',
  ) {
    const rateBound = evidence === 'beyond-margin' ? margin : 0;
    this.regression =
      kind === 'rate' ? new MeanBet(rateBound, -1, 1, regressionAlpha) : new MeanBet(0.5, 0, 1, regressionAlpha);
    this.equivalence = this.newEquivalence();
  }

  /**
   * Bets both tests on one block: `y` its number at the margin, `unscaled` its number with no
   * margin (a latency's share of pairs where the canary is slower at all; a rate's `y` again).
   */
  feed(y: number, unscaled: number): void {
    this.regression.observe(this.evidence === 'beyond-margin' ? y : unscaled);
    // The equivalence test bets on -y being above -margin (-1/2 for a latency).
    this.equivalence.observe(-y);
    this.blocks++;
    this.sum += y;
  }

  /** The mean block number: a rate's increase, or a latency's share of pairs slower than the margin allows. */
  get estimate(): number {
    return this.sum / this.blocks;
  }

  /** Whether a regression is shown, as `evidence` asks. */
  get regressionShown(): boolean {
    if (!this.regression.fired) return false;
    if (this.evidence === 'beyond-margin') return true;
    return this.estimate > (this.kind === 'rate' ? this.margin : 0.5);
  }

  /** Starts the equivalence test afresh (a new step); the regression test goes on. */
  resetEquivalence(): void {
    this.equivalence = this.newEquivalence();
  }

  private newEquivalence(): MeanBet {
    return this.kind === 'rate'
      ? new MeanBet(-this.margin, -1, 1, this.equivalenceAlpha)
      : new MeanBet(-0.5, -1, 0, this.equivalenceAlpha);
  }
}

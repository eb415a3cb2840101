/**
 * The earliest-deadline-first plan, replayed from a record once it repeats. With integer weights
 * and credits, the plan's lags come back to where they were after one period of the weights
 * (`total / gcd` picks: every share is then a whole number of picks) when the plan's state recurs;
 * from there on the recorded period is a valid plan again, every window moved on by the period,
 * and reading it costs a few loads instead of the plan's bucket work. The order in which picks are
 * served stays random: only the plan's set of jobs for each pick repeats.
 * @module
 */
import { DeadlinePlan } from './deadline-plan.js';
import { weightsDivisor } from './schedule-math.js';

/**
 * The longest period recorded (picks), 6 bytes a pick (96 KiB at most): a job lies within one
 * period and a pick of the pick it is planned for, so both distances fit 16 bits, and so do items.
 */
const MAX_PERIOD = 16_384;
/** Periods recorded before giving up when the plan does not come back to where it started. */
const MAX_ATTEMPTS = 4;

/** The plan `JobRing` reads: live, recorded or replayed. */
export class PlanReplay {
  /** The job `planNext()` planned last: its item, release and deadline. */
  item = -1;
  release = 0;
  deadline = 0;
  /** A job was planned outside its window since `load` (lags, or periods, the plan cannot meet). */
  missed = false;
  /** The pick number `planNext()` plans. */
  private pick = 1;
  private readonly plan: DeadlinePlan;
  /** Picks in the period; 0 when the plan is live only. */
  private period = 0;
  private replaying = false;
  /** The next entry of the record. */
  private index = 0;
  private attempts = 0;
  private items = new Uint16Array(0);
  /** Picks from the job's release to the pick it is planned for, and from there to its deadline. */
  private waits = new Uint16Array(0);
  private slacks = new Uint16Array(0);
  /** The plan's lags (times the total) where the record starts. */
  private readonly startLags: Float64Array;

  constructor(private readonly weights: Float64Array) {
    this.plan = new DeadlinePlan(weights);
    this.startLags = new Float64Array(weights.length);
  }

  /** Starts a plan from `credits` (lag times `total`, before pick 1), with `period` as `DeadlinePlan.load`. */
  load(credits: Float64Array, total: number, period = 0): void {
    this.plan.load(credits, total, period);
    this.pick = 1;
    this.missed = false;
    this.replaying = false;
    this.attempts = 0;
    // A plan kept within periods is served once and then looped by the schedule (period-loop.ts).
    this.period = period === 0 ? periodOf(this.weights, credits, total) : 0;
    if (this.period === 0) return;
    if (this.items.length < this.period) {
      this.items = new Uint16Array(this.period);
      this.waits = new Uint16Array(this.period);
      this.slacks = new Uint16Array(this.period);
    }
    this.startRecord();
  }

  /** Plans pick `pick`. */
  planNext(): void {
    const q = this.pick;
    this.pick = q + 1;
    const k = this.index;
    if (this.replaying) {
      this.item = this.items[k]!;
      this.release = q - this.waits[k]!;
      this.deadline = q + this.slacks[k]!;
      this.index = k + 1 === this.period ? 0 : k + 1;
      return;
    }
    const plan = this.plan;
    plan.planNext();
    this.item = plan.item;
    this.release = plan.release;
    this.deadline = plan.deadline;
    // A job outside its window (lags the weights cannot meet) is no plan to repeat.
    if (plan.release > q || plan.deadline < q) {
      this.missed = true;
      this.period = 0;
      return;
    }
    if (this.period === 0) return;
    this.items[k] = plan.item;
    this.waits[k] = q - plan.release;
    this.slacks[k] = plan.deadline - q;
    this.index = k + 1;
    if (this.index === this.period) this.closeRecord();
  }

  /** Moves every pick number back by `picks` (a multiple of the plan's calendar). */
  rebase(picks: number): void {
    this.pick -= picks;
    if (!this.replaying) this.plan.rebase(picks);
  }

  private startRecord(): void {
    const { credits } = this.plan;
    for (let i = 0; i < this.weights.length; i++) this.startLags[i] = credits[i]! - (this.pick - 1) * this.weights[i]!;
    this.index = 0;
  }

  /** A period recorded: replay it if the plan is back where it started, else record the next one. */
  private closeRecord(): void {
    const { credits } = this.plan;
    let back = true;
    for (let i = 0; i < this.weights.length && back; i++) {
      back = credits[i]! - (this.pick - 1) * this.weights[i]! === this.startLags[i];
    }
    if (back) {
      this.replaying = true;
      this.index = 0;
    } else if (++this.attempts < MAX_ATTEMPTS) {
      this.startRecord();
    } else {
      this.period = 0;
    }
  }
}

/** `total / gcd` of the positive weights when they and the credits are integers and it is short; else 0. */
function periodOf(weights: Float64Array, credits: Float64Array, total: number): number {
  const divisor = weightsDivisor(weights);
  if (divisor <= 0 || !Number.isInteger(total) || weights.length > 0x1_0000) return 0;
  for (let i = 0; i < weights.length; i++) if (weights[i] !== 0 && !Number.isInteger(credits[i]!)) return 0;
  const period = total / divisor;
  return period <= MAX_PERIOD ? period : 0;
}

/**
 * The weighted schedule: which subset takes the next keyless call. No gRPC imports, no clock;
 * its randomness comes from an injected, seedable source.
 *
 * Each item carries a *lag* (picks it got minus the sum of the shares in force at each pick),
 * which survives weight changes: the schedule never restarts. Every pick is random within the
 * bound "every lag in (-1, 1)", so no position of a period is tied to an item:
 * - two active items take a randomised walk that gives each pick to the second item with
 *   exactly its share as its chance;
 * - three take the three-item walk (triple-walk.ts), exact in the same way;
 * - four or more serve the jobs an earliest-deadline-first plan gives the next 32 picks in a
 *   random order that meets every deadline (job-ring.ts): each job at a random target in its
 *   window, as far as the others' deadlines allow; with integer weights, one period of those
 *   picks is then served for ever, shuffled by random swaps within the bound (period-loop.ts).
 * Lags are kept multiplied by the total weight, exact for integer weights. The derivation, the
 * bounds (within 2 over any run) and where they stop holding are in docs/scheduler.md; read it
 * before changing a rule here.
 *
 * Cost: O(1) per pick for any number of items (the plan's O(1) amortised while the ring serves);
 * one random number per pick, two random bits for four or more once a period loops. No allocation
 * per pick.
 */
import { randomSeed, seededRandom, type RandomSource } from '../random.js';
import { recentre } from './schedule-math.js';
import { PeriodLoop } from './period-loop.js';
import { pickOfThree } from './triple-walk.js';

/** Options of a `WeightedSchedule`. */
export interface WeightedScheduleOptions {
  /**
   * The random source (numbers in [0, 1)) of every random choice of the schedule. Give the same
   * seeded source to get the same sequence again. @default a source seeded from the OS
   */
  random?: RandomSource;
}

const enum Mode {
  None,
  Single,
  Pair,
  Three,
  Many,
}

/**
 * Which item takes each pick, by weight: exact within the bounds of docs/scheduler.md, random
 * within them. A split keeps one per set of READY subsets, shared by all its channels.
 * @example
 * const schedule = new WeightedSchedule([90, 10]);
 * schedule.next(); // 0 or 1: 10 +- 1 of every 100 picks are 1
 * schedule.setWeights([10, 90]); // in force from the next pick, each lag carried
 */
export class WeightedSchedule {
  private readonly weights: Float64Array;
  private total = 0;
  private active = 0;
  private mode = Mode.None;
  private readonly random: RandomSource;
  /** The pick `peek()` has drawn and `next()` will return; -1 when none. */
  private pending = -1;
  // Two items: `first` and `second`, the lag of `second` times the total weight.
  private first = -1;
  private second = -1;
  private secondWeight = 0;
  private firstWeight = 0;
  private pairLag = 0;
  // Three items: their indices, weights and lags times the total weight.
  private readonly threeItems = new Int32Array(3);
  private readonly threeWeights = new Float64Array(3);
  private readonly threeLags = new Float64Array(3);
  // Four or more: made at the first use, as most schedules never have four items.
  private many: PeriodLoop | null = null;

  /**
   * @param weights one weight per item, indexed as the items are: finite and >= 0 (validation is
   *   the caller's, see `validateWeights`). Items of weight 0 are never picked.
   */
  constructor(weights: ArrayLike<number>, options: WeightedScheduleOptions = {}) {
    const n = weights.length;
    this.random = options.random ?? seededRandom(randomSeed());
    this.weights = new Float64Array(n);
    this.adopt(weights);
    // Lag 0: every mode draws its own randomness at each pick, from the first one on.
    this.load(new Float64Array(n));
  }

  /** How many items have a positive weight. */
  get activeCount(): number {
    return this.active;
  }

  /**
   * Puts `weights` in force from the next pick on, carrying every item's lag. Items that stop or
   * start being picked (weight 0 or back) give up their lag; the lags of the others are shifted
   * so they sum to 0 again, and shrunk if need be to stay within one call.
   */
  setWeights(weights: ArrayLike<number>): void {
    if (weights.length !== this.weights.length)
      throw new RangeError(`weights: expected ${this.weights.length} weights, got ${weights.length}`);
    const lags = this.lags();
    const before = this.weights.slice();
    this.adopt(weights);
    let sameSet = true;
    for (let i = 0; i < before.length; i++) if (before[i]! > 0 !== this.weights[i]! > 0) sameSet = false;
    if (!sameSet) recentre(lags, this.weights, this.total);
    this.load(lags);
  }

  /** The lag of every item in calls: picks minus the sum of the shares in force at each pick. */
  lags(): Float64Array {
    const lags = new Float64Array(this.weights.length);
    if (this.mode === Mode.Pair) {
      lags[this.second] = this.pairLag / this.total;
      lags[this.first] = -this.pairLag / this.total;
    } else if (this.mode === Mode.Three) {
      for (let k = 0; k < 3; k++) lags[this.threeItems[k]!] = this.threeLags[k]! / this.total;
    } else if (this.mode === Mode.Many) {
      this.many!.lags(lags);
    }
    return lags;
  }

  /** The index of the next item, or -1 when no item has a positive weight. */
  next(): number {
    let i = this.pending;
    if (i >= 0) {
      this.pending = -1;
    } else if (this.mode === Mode.Pair) {
      return this.nextOfPair();
    } else if (this.mode === Mode.Three) {
      return this.nextOfThree();
    } else if (this.mode === Mode.Many) {
      // Its own peek() keeps what it drew: nothing is pending here.
      return this.many!.next();
    } else {
      i = this.choose();
    }
    this.commit(i);
    return i;
  }

  /** The index `next()` will return, without taking it. -1 when nothing can be picked. */
  peek(): number {
    if (this.mode === Mode.Many) return this.many!.peek();
    if (this.pending < 0) this.pending = this.choose();
    return this.pending;
  }

  /** The two-item walk, in one place so the common case stays short. */
  private nextOfPair(): number {
    const lag = this.pairLag;
    const w = this.secondWeight;
    const total = this.total;
    let takeSecond: boolean;
    if (lag >= w) takeSecond = false;
    else if (lag <= -this.firstWeight) takeSecond = true;
    else if (lag < 0) takeSecond = this.random() * (total + lag) < w;
    else takeSecond = this.random() * (total - lag) < w - lag;
    if (takeSecond) {
      this.pairLag = lag + this.firstWeight;
      return this.second;
    }
    this.pairLag = lag - w;
    return this.first;
  }

  /** The three-item walk: draw, then move the three lags. */
  private nextOfThree(): number {
    const lags = this.threeLags;
    const weights = this.threeWeights;
    const total = this.total;
    const k = pickOfThree(lags, weights, total, this.random());
    lags[0]! -= weights[0]!;
    lags[1]! -= weights[1]!;
    lags[2]! -= weights[2]!;
    lags[k]! += total;
    return this.threeItems[k]!;
  }

  private choose(): number {
    switch (this.mode) {
      case Mode.None:
        return -1;
      case Mode.Single:
        return this.first;
      case Mode.Pair: {
        // Draw as next() would, then undo: peek() is rare, next() stays short.
        const lag = this.pairLag;
        const i = this.nextOfPair();
        this.pairLag = lag;
        return i;
      }
      default:
        return this.threeItems[pickOfThree(this.threeLags, this.threeWeights, this.total, this.random())]!;
    }
  }

  private commit(i: number): void {
    if (i < 0) return;
    if (this.mode === Mode.Pair) {
      this.pairLag += i === this.second ? this.firstWeight : -this.secondWeight;
    } else if (this.mode === Mode.Three) {
      const lags = this.threeLags;
      for (let k = 0; k < 3; k++) lags[k]! += (this.threeItems[k] === i ? this.total : 0) - this.threeWeights[k]!;
    }
  }

  private adopt(weights: ArrayLike<number>): void {
    let total = 0;
    let active = 0;
    this.first = -1;
    this.second = -1;
    for (let i = 0; i < this.weights.length; i++) {
      const w = weights[i]! > 0 ? weights[i]! : 0;
      this.weights[i] = w;
      if (w === 0) continue;
      total += w;
      if (active < 3) this.threeItems[active] = i;
      active++;
      if (this.first < 0) this.first = i;
      else if (this.second < 0) this.second = i;
    }
    this.total = total;
    this.active = active;
    this.mode =
      active === 0
        ? Mode.None
        : active === 1
          ? Mode.Single
          : active === 2
            ? Mode.Pair
            : active === 3
              ? Mode.Three
              : Mode.Many;
    this.pending = -1;
  }

  /** Installs lags (in calls, summing to 0 over the active items) for the weights in force. */
  private load(lags: Float64Array): void {
    if (this.mode === Mode.Pair) {
      this.firstWeight = this.weights[this.first]!;
      this.secondWeight = this.weights[this.second]!;
      this.pairLag = lags[this.second]! * this.total;
    } else if (this.mode === Mode.Three) {
      for (let k = 0; k < 3; k++) {
        const i = this.threeItems[k]!;
        this.threeWeights[k] = this.weights[i]!;
        this.threeLags[k] = lags[i]! * this.total;
      }
    } else if (this.mode === Mode.Many) {
      this.many ??= new PeriodLoop(this.weights, this.random);
      this.many.load(lags, this.total);
    }
  }
}

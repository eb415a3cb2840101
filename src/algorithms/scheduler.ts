/**
 * The weighted schedule: which subset takes the next keyless call. No gRPC imports, no clock;
 * its randomness comes from an injected, seedable source.
 *
 * Each item carries a *lag* (picks it got minus the sum of the shares in force at each pick),
 * which survives weight changes: the schedule never restarts. Two active items (the canary
 * case) take a randomised walk that keeps the lag in (-1, 1) and gives each pick to the second
 * item with exactly its share as its chance; three or more run EEVDF on the carried lag from a
 * random phase. Lags are kept multiplied by the total weight, exact for integer weights. The
 * derivation, the bounds (within 2 over any run, within 1 over whole periods) and where they
 * stop holding are in docs/scheduler.md; read it before changing a rule here.
 *
 * Cost: two items O(1), one random number per pick; more items O(log n) over two binary heaps,
 * or an array read once a cycle of integer weights has been recorded. No allocation per pick.
 */
import { randomSeed, seededRandom, type RandomSource } from './random.js';
import { integerCycleLength, recentre } from './schedule-math.js';
import { ShareHeap } from './share-heap.js';

/** Options of a `WeightedSchedule`. */
export interface WeightedScheduleOptions {
  /**
   * The random source (numbers in [0, 1)) for the phase and the two-item walk. Give the same
   * seeded source to get the same sequence again. @default a source seeded from the OS
   */
  random?: RandomSource;
}

/** EEVDF credits are rebased to the lag after this many picks, to keep them small. */
const REBASE_PICKS = 1024;

/** Longest EEVDF cycle replayed from a table (4 bytes a pick: 32 KiB). */
const MAX_CYCLE = 8192;

const enum Mode {
  None,
  Single,
  Pair,
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
  // Three or more: EEVDF. credit_i = (lag at the epoch start + picks in the epoch) * total;
  // lag_i * total = credit_i - epochPicks * w_i.
  private readonly credits: Float64Array;
  private readonly eligible: ShareHeap;
  private readonly waiting: ShareHeap;
  private epochPicks = 0;
  private active = 0;
  // EEVDF replay: with integer weights whose cycle (W / gcd picks) is short, the first cycle
  // after a load is recorded; if it gave every item exactly its share, the lags are back where
  // they started, so the same picks follow forever (until the weights change) and are replayed.
  private cycle: Int32Array | null = null;
  private cycleLength = 0;
  private readonly cycleCounts: Float64Array;
  private recorded = 0;
  /** Position in `cycle` while replaying; -1 while recording or computing. */
  private replayAt = -1;

  /**
   * @param weights one weight per item, indexed as the items are: finite and >= 0 (validation is
   *   the caller's, see `validateWeights`). Items of weight 0 are never picked.
   */
  constructor(weights: ArrayLike<number>, options: WeightedScheduleOptions = {}) {
    const n = weights.length;
    this.random = options.random ?? seededRandom(randomSeed());
    this.weights = new Float64Array(n);
    this.credits = new Float64Array(n);
    this.cycleCounts = new Float64Array(n);
    this.eligible = new ShareHeap(n, this.credits, this.weights);
    this.waiting = new ShareHeap(n, this.credits, this.weights);
    this.adopt(weights);
    this.load(this.randomPhase());
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
    if (weights.length !== this.weights.length) throw new RangeError(`weights: expected ${this.weights.length} weights, got ${weights.length}`);
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
    } else if (this.mode === Mode.Many) {
      for (let i = 0; i < lags.length; i++) {
        if (this.weights[i]! > 0) lags[i] = (this.credits[i]! - this.epochPicks * this.weights[i]!) / this.total;
      }
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
    } else {
      i = this.choose();
    }
    this.commit(i);
    return i;
  }

  /** The index `next()` will return, without taking it. -1 when nothing can be picked. */
  peek(): number {
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
        return this.replayAt >= 0 ? this.cycle![this.replayAt]! : this.earliestEligible();
    }
  }

  private commit(i: number): void {
    if (i < 0) return;
    if (this.mode === Mode.Pair) {
      this.pairLag += i === this.second ? this.firstWeight : -this.secondWeight;
    } else if (this.mode === Mode.Many) {
      // The credits are kept while replaying too, so lags() and a weight change see the truth.
      this.credits[i]! += this.total;
      if (this.replayAt >= 0) {
        this.replayAt = this.replayAt + 1 === this.cycleLength ? 0 : this.replayAt + 1;
      } else {
        this.eligible.pop();
        this.waiting.push(i, 0);
        if (this.cycle !== null) this.record(i);
      }
      if (++this.epochPicks === REBASE_PICKS) this.rebase();
    }
  }

  private record(i: number): void {
    const cycle = this.cycle!;
    cycle[this.recorded++] = i;
    this.cycleCounts[i]!++;
    if (this.recorded < this.cycleLength) return;
    for (let k = 0; k < this.weights.length; k++) {
      // Exact integers: count * W == cycle * w means the lag is back to its start.
      if (this.cycleCounts[k]! * this.total !== this.cycleLength * this.weights[k]!) {
        this.cycle = null;
        return;
      }
    }
    this.replayAt = 0;
  }

  /** Moves the credits' origin to now: every key shifts by the same amount, so no heap moves. */
  private rebase(): void {
    const t = this.epochPicks;
    for (let i = 0; i < this.weights.length; i++) this.credits[i]! -= t * this.weights[i]!;
    this.eligible.shift(t);
    this.waiting.shift(t);
    this.epochPicks = 0;
  }

  /** EEVDF: moves the items whose start has come to `eligible`, returns its earliest deadline. */
  private earliestEligible(): number {
    const { waiting, eligible, credits, weights, total } = this;
    const t = this.epochPicks;
    // lag_i <= 0, i.e. credit_i <= t * w_i: the item is not ahead of its share.
    while (waiting.size > 0) {
      const i = waiting.top();
      if (credits[i]! > t * weights[i]!) break;
      waiting.pop();
      eligible.push(i, total);
    }
    // The lags sum to 0, so some item is not ahead; rounding could still hide it.
    if (eligible.size === 0) eligible.push(waiting.pop(), total);
    return eligible.top();
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
      active++;
      if (this.first < 0) this.first = i;
      else if (this.second < 0) this.second = i;
    }
    this.total = total;
    this.active = active;
    this.mode = active === 0 ? Mode.None : active === 1 ? Mode.Single : active === 2 ? Mode.Pair : Mode.Many;
    this.pending = -1;
  }

  /** Installs lags (in calls, summing to 0 over the active items) for the weights in force. */
  private load(lags: Float64Array): void {
    if (this.mode === Mode.Pair) {
      this.firstWeight = this.weights[this.first]!;
      this.secondWeight = this.weights[this.second]!;
      this.pairLag = lags[this.second]! * this.total;
    } else if (this.mode === Mode.Many) {
      this.eligible.size = 0;
      this.waiting.size = 0;
      this.epochPicks = 0;
      this.startRecording();
      for (let i = 0; i < lags.length; i++) {
        this.credits[i] = lags[i]! * this.total;
        if (this.weights[i]! > 0) this.waiting.push(i, 0);
      }
    }
  }

  private startRecording(): void {
    this.replayAt = -1;
    this.recorded = 0;
    this.cycleCounts.fill(0);
    this.cycleLength = integerCycleLength(this.weights);
    const fits = this.cycleLength > 0 && this.cycleLength <= MAX_CYCLE;
    if (!fits) this.cycle = null;
    else if (this.cycle === null || this.cycle.length < this.cycleLength) this.cycle = new Int32Array(this.cycleLength);
  }

  /** A random valid lag vector for the weights in force (see the file header). */
  private randomPhase(): Float64Array {
    const lags = new Float64Array(this.weights.length);
    const total = this.total;
    if (this.mode === Mode.Pair) {
      // Lag 0: the walk itself randomises the phase (each pick goes to the second item with
      // exactly its share as its chance), and every whole period from the start is exact.
    } else if (this.mode === Mode.Many) {
      // Each item's virtual start moved by a random fraction of its own period, re-centred.
      let mean = 0;
      for (let i = 0; i < lags.length; i++) {
        if (this.weights[i] === 0) continue;
        lags[i] = this.random();
        mean += (this.weights[i]! / total) * lags[i]!;
      }
      for (let i = 0; i < lags.length; i++) {
        if (this.weights[i]! > 0) lags[i] = (this.weights[i]! / total) * (lags[i]! - mean);
      }
    }
    return lags;
  }
}

/**
 * The plan of the weighted schedule for four or more items: earliest deadline first over the
 * items' *jobs*, planned ahead of the picks. See docs/scheduler.md ("Four or more active items").
 *
 * With its lag times the total weight kept as a credit (`credit - p * w` after p picks), an item's
 * next job may be taken from pick `release = floor(credit / w) + 1` on (its lag stays below 1)
 * and must be taken by pick `deadline = ceil((credit + total) / w)` (its lag stays above -1).
 * Each item waits in a bucket of a circular calendar of `window` picks: by release until then,
 * by deadline after; a bitmap of the deadline buckets in use finds the earliest. Events beyond
 * the calendar wait in an overflow list, looked at every `window / 2` picks. Every operation is
 * O(1) amortised; nothing is allocated after `load`.
 *
 * Given a period (integer weights), each item's jobs are also kept within periods of that many
 * picks from the first: `total / gcd` picks hold `w / gcd` jobs of each item, each window cut to
 * its period. When that plan meets every window, every period ends at the lags it started from.
 * @module
 */
import { ceilDiv, firstAbove } from './schedule-math.js';
import { SlotLists } from './slot-lists.js';

/** Smallest and largest calendar (picks ahead), powers of two; MAX_WINDOW divides REBASE_PICKS. */
const MIN_WINDOW = 32;
const MAX_WINDOW = 4096;

/** Earliest deadline first, planned one pick at a time; the schedule reads each job it plans. */
export class DeadlinePlan {
  /** The pick number `planNext()` plans. */
  pick = 1;
  /** The job `planNext()` planned last: its item, release and deadline. */
  item = -1;
  release = 0;
  deadline = 0;
  private total = 0;
  private window = MIN_WINDOW;
  private mask = MIN_WINDOW - 1;
  /** Events before this pick are in the calendar; later ones in the overflow list. */
  private horizon = 0;
  /** The pick at which the overflow list is looked at next. */
  private sweepAt = 0;
  readonly credits: Float64Array;
  private readonly releases: Float64Array;
  private readonly deadlines: Float64Array;
  /** Deadlines before they are cut to a period: the next one is stepped from them. */
  private readonly dueBy: Float64Array;
  /** Picks per period, 0 when jobs are not kept within periods. */
  private period = 0;
  /** Per item: jobs per period, jobs left in the current one, its last pick. */
  private readonly perPeriod: Float64Array;
  private readonly periodLeft: Float64Array;
  private readonly periodEnd: Float64Array;
  /** `floor(total / w)`: about how many picks apart an item's deadlines are. */
  private readonly steps: Float64Array;
  /** The list each item is in: release slot, `window` + deadline slot, or `2 * window` (overflow). */
  private readonly listOf: Int32Array;
  private readonly lists: SlotLists;
  /** One bit per deadline slot whose list is not empty. */
  private used = new Int32Array(MIN_WINDOW / 32);

  constructor(private readonly weights: Float64Array) {
    const n = weights.length;
    this.credits = new Float64Array(n);
    this.releases = new Float64Array(n);
    this.deadlines = new Float64Array(n);
    this.dueBy = new Float64Array(n);
    this.perPeriod = new Float64Array(n);
    this.periodLeft = new Float64Array(n);
    this.periodEnd = new Float64Array(n);
    this.steps = new Float64Array(n);
    this.listOf = new Int32Array(n);
    this.lists = new SlotLists(n);
  }

  /**
   * Starts a plan from `credits` (lag times `total`, before pick 1) for the weights in force; with
   * `period` (picks, a multiple of `total / w` for every weight w), each job within its period.
   */
  load(credits: Float64Array, total: number, period = 0): void {
    const { weights } = this;
    this.total = total;
    this.period = period;
    this.window = windowFor(weights);
    this.mask = this.window - 1;
    if (this.used.length < this.window / 32) this.used = new Int32Array(this.window / 32);
    this.used.fill(0, 0, this.window / 32);
    this.lists.reset(2 * this.window + 1);
    this.pick = 1;
    this.horizon = 1 + this.window;
    this.sweepAt = 1 + this.window / 2;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      this.credits[i] = w > 0 ? credits[i]! : 0;
      if (w === 0) continue;
      this.steps[i] = Math.floor(total / w);
      this.perPeriod[i] = this.periodLeft[i] = (period * w) / total;
      this.periodEnd[i] = period;
      this.releases[i] = firstAbove(credits[i]!, w);
      this.dueBy[i] = ceilDiv(credits[i]! + total, w);
      this.deadlines[i] = period === 0 ? this.dueBy[i]! : Math.min(this.dueBy[i]!, period);
      this.file(i, 1);
    }
  }

  /** Plans pick `pick` (the earliest deadline among the released items) and moves on. */
  planNext(): void {
    const q = this.pick;
    if (q === this.sweepAt) this.sweep();
    if (this.lists.first(q & this.mask) >= 0) this.releaseAt(q);
    const slot = this.firstDue(q & this.mask);
    let j: number;
    if (slot >= 0) {
      j = this.lists.takeFirst(this.window + slot);
      if (this.lists.first(this.window + slot) < 0) this.used[slot >> 5]! &= ~(1 << (slot & 31));
    } else {
      j = this.overdueOrEarliest();
      this.lists.remove(j, this.listOf[j]!);
    }
    this.item = j;
    this.release = this.releases[j]!;
    this.deadline = this.deadlines[j]!;
    this.nextJob(j);
    this.file(j, q + 1);
    // A job due now and not planned: the state was not feasible (only after a change of weights).
    // It stays first in line.
    const due = this.window + (q & this.mask);
    if (this.lists.first(due) >= 0) {
      this.used[(q & this.mask) >> 5]! &= ~(1 << (q & 31));
      for (let i = this.lists.takeAll(due); i >= 0;) {
        const following = this.lists.next(i);
        this.linkDue(i, q + 1);
        i = following;
      }
    }
    this.pick = q + 1;
  }

  /** Moves every pick number back by `picks` (a multiple of the window: no slot moves). */
  rebase(picks: number): void {
    const { weights } = this;
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] === 0) continue;
      this.credits[i]! -= picks * weights[i]!;
      this.releases[i]! -= picks;
      this.deadlines[i]! -= picks;
      this.dueBy[i]! -= picks;
      this.periodEnd[i]! -= picks;
    }
    this.pick -= picks;
    this.horizon -= picks;
    this.sweepAt -= picks;
  }

  /**
   * Item j's next job, once its current one is planned, without a division: it is released when
   * the current one falls due (or a pick later) and falls due about `total / w` picks after it.
   * Both are corrected as `ceilDiv` corrects its quotient, so they are what the credit gives;
   * then cut to the job's period, when there is one (a window cut so is never empty: the period's
   * first job is due, and its last released, within it).
   */
  private nextJob(j: number): void {
    const w = this.weights[j]!;
    const credit = (this.credits[j]! += this.total);
    let release = this.dueBy[j]!;
    while (release * w <= credit) release++;
    while ((release - 1) * w > credit) release--;
    const owed = credit + this.total;
    let deadline = this.dueBy[j]! + this.steps[j]!;
    while (deadline * w < owed) deadline++;
    while ((deadline - 1) * w >= owed) deadline--;
    this.dueBy[j] = deadline;
    const period = this.period;
    if (period !== 0) {
      if (--this.periodLeft[j]! === 0) {
        this.periodLeft[j] = this.perPeriod[j]!;
        this.periodEnd[j]! += period;
      }
      release = Math.max(release, this.periodEnd[j]! - period + 1);
      deadline = Math.min(deadline, this.periodEnd[j]!);
    }
    this.releases[j] = release;
    this.deadlines[j] = deadline;
  }

  /** Files item i: by deadline when released by pick `next`, else by release. */
  private file(i: number, next: number): void {
    if (this.releases[i]! <= next) this.linkDue(i, next);
    else this.linkRelease(i);
  }

  /** Files a released item by its deadline, or at `earliest` when that is past. */
  private linkDue(i: number, earliest: number): void {
    const key = Math.max(this.deadlines[i]!, earliest);
    if (key >= this.horizon) return this.link(i, 2 * this.window);
    const slot = key & this.mask;
    this.link(i, this.window + slot);
    this.used[slot >> 5]! |= 1 << (slot & 31);
  }

  private linkRelease(i: number): void {
    const release = this.releases[i]!;
    this.link(i, release >= this.horizon ? 2 * this.window : release & this.mask);
  }

  private link(i: number, list: number): void {
    this.listOf[i] = list;
    this.lists.add(i, list);
  }

  /** The items whose job is released at pick q become candidates. */
  private releaseAt(q: number): void {
    for (let i = this.lists.takeAll(q & this.mask); i >= 0;) {
      const following = this.lists.next(i);
      this.linkDue(i, q);
      i = following;
    }
  }

  /** The first deadline slot in use from `start` on, circularly; -1 if none. */
  private firstDue(start: number): number {
    const { used } = this;
    const words = this.window >> 5;
    let k = start >> 5;
    let bits = used[k]! & (-1 << (start & 31));
    for (let seen = 0; bits === 0;) {
      if (++seen > words) return -1;
      k = k + 1 === words ? 0 : k + 1;
      bits = used[k]!;
    }
    return (k << 5) + 31 - Math.clz32(bits & -bits);
  }

  /**
   * No released item is due within the calendar: the earliest deadline among those in the overflow
   * list (O(n), rare: it takes every released item to be due further than `window / 2` picks).
   */
  private overdueOrEarliest(): number {
    const overflow = 2 * this.window;
    let best = -1;
    for (let i = this.lists.first(overflow); i >= 0; i = this.lists.next(i)) {
      if (this.releases[i]! > this.pick) continue;
      if (best < 0 || this.deadlines[i]! < this.deadlines[best]!) best = i;
    }
    if (best >= 0) return best;
    // Nothing released (rounding alone can do it): the item released first.
    for (let i = 0; i < this.weights.length; i++) {
      if (this.weights[i]! > 0 && (best < 0 || this.releases[i]! < this.releases[best]!)) best = i;
    }
    return best;
  }

  /** Moves the overflow items whose event now lies within the calendar into it. */
  private sweep(): void {
    const q = this.pick;
    this.horizon = q + this.window;
    this.sweepAt = q + this.window / 2;
    for (let i = this.lists.takeAll(2 * this.window); i >= 0;) {
      const following = this.lists.next(i);
      // Each goes back to the overflow list, or into the calendar now that it reaches it.
      if (this.releases[i]! <= q) this.linkDue(i, q);
      else this.linkRelease(i);
      i = following;
    }
  }
}

/**
 * Picks ahead the calendar sees: four per active item, so that most deadlines (an item with lag 0
 * is due 1 / share picks ahead, n picks on average) fall inside it.
 */
function windowFor(weights: Float64Array): number {
  let active = 0;
  for (const w of weights) if (w > 0) active++;
  let size = MIN_WINDOW;
  while (size < 4 * active && size < MAX_WINDOW) size *= 2;
  return size;
}

/**
 * The weighted schedule for four or more active items: a random pick among the items whose pick
 * keeps every lag in (-1, 1) for ever, found with a calendar of the jobs falling due. The
 * derivation and the proof are in docs/scheduler.md ("Four or more active items").
 *
 * A *job* is a pick an item is owed: with its lag times the total weight kept as a credit
 * (`credit - t * w`, t the picks made), its k-th pending job falls due at pick number
 * `ceil((credit + k * total) / w)` (skipping the item at that pick would take its lag to -1),
 * and the item may be picked (is *released*) while `credit < p * w` for pick number p (its lag
 * stays below 1). The calendar counts the jobs due at each of the next `window` picks; the first
 * pick by which the jobs due fill every pick up to it is the first *tight* pick T. Taking any
 * released item whose first job is due by T keeps a schedule that meets every deadline (so every
 * lag stays in (-1, 1)), and nothing else does.
 * @module
 */
import { AliasTable } from './alias-table.js';
import type { RandomSource } from '../random.js';
import { ceilDiv } from './schedule-math.js';
import { SlackCalendar } from './slack-calendar.js';
import { SlotLists } from './slot-lists.js';

/** Smallest and largest calendar (picks ahead), powers of two. */
const MIN_WINDOW = 32;
const MAX_WINDOW = 4096;
/** Credits are rebased after this many picks; a multiple of MAX_WINDOW, so no slot moves. */
const REBASE_PICKS = 4096;
/** A proposal is kept with probability (its hazard / its share) / HAZARD_CAP, at most 1. */
const HAZARD_CAP = 4;
/** Proposals drawn before the earliest deadline is taken instead. */
const PROPOSALS = 16;
/** Picks by which the calendar is extended at a time (one pass over the tree for all of them). */
const BATCH = 16;

/** The four-or-more-item schedule; `WeightedSchedule` holds one and feeds it its weights. */
export class SlackSchedule {
  private total = 0;
  private window = MIN_WINDOW;
  private mask = MIN_WINDOW - 1;
  /** Picks since the credits' origin. */
  private picks = 0;
  /**
   * The last pick number the calendar counts: between `picks + window - BATCH` and
   * `picks + window`. Slots past it hold stale counts and are never read as such.
   */
  private covered = 0;
  /** Set when a job fell due unserved (only after a change of weights): rebuilt at next pick. */
  private stale = false;
  private readonly credits: Float64Array;
  /** Pick number by which the item's first pending job is due. */
  private readonly deadlines: Float64Array;
  /** Pending jobs of the item counted in the calendar (the first `entered` ones). */
  private readonly entered: Int32Array;
  /** Due pick of the item's first job not in the calendar yet (beyond the window). */
  private readonly upcoming: Float64Array;
  // Per slot: jobs due, and the items by first job (to find the earliest deadline) and by
  // upcoming job (to count the jobs entering when the calendar moves on).
  private due = new Int32Array(MIN_WINDOW);
  private readonly byFirst: SlotLists;
  private readonly byUpcoming: SlotLists;
  private readonly calendar = new SlackCalendar();
  private readonly proposals: AliasTable;

  constructor(
    private readonly weights: Float64Array,
    private readonly random: RandomSource,
  ) {
    const n = weights.length;
    this.credits = new Float64Array(n);
    this.deadlines = new Float64Array(n);
    this.entered = new Int32Array(n);
    this.upcoming = new Float64Array(n);
    this.byFirst = new SlotLists(n);
    this.byUpcoming = new SlotLists(n);
    this.proposals = new AliasTable(n);
  }

  /** Installs lags (in calls, summing to 0 over the items of positive weight) for `weights`. */
  load(lags: Float64Array, total: number): void {
    this.total = total;
    this.proposals.build(this.weights, total);
    this.window = windowFor(this.weights);
    this.mask = this.window - 1;
    for (let i = 0; i < lags.length; i++) this.credits[i] = this.weights[i]! > 0 ? lags[i]! * total : 0;
    this.picks = 0;
    this.fill();
  }

  /** Each item's lag in calls, into `out`. */
  lags(out: Float64Array): void {
    for (let i = 0; i < out.length; i++) {
      const w = this.weights[i]!;
      out[i] = w > 0 ? (this.credits[i]! - this.picks * w) / this.total : 0;
    }
  }

  /** The next pick, drawn without changing any state but the random source's. */
  choose(): number {
    if (this.stale) this.fill();
    const p = this.picks + 1;
    const offset = this.calendar.firstTight(p & this.mask);
    // The first tight pick; with none the calendar counts, the last it counts (nothing beyond it
    // is checked, so no candidate is due beyond it).
    let tight = this.covered;
    let feasible = true;
    if (offset >= 0 && p + offset <= tight) {
      tight = p + offset;
      feasible = this.calendar.slackThere === 0;
    }
    if (tight > p && feasible) {
      const j = this.propose(tight);
      if (j >= 0) return j;
    }
    return this.earliestDeadline(tight);
  }

  /** Records a pick of `j` (as returned by `choose()`). */
  commit(j: number): void {
    const w = this.weights[j]!;
    const total = this.total;
    if (this.entered[j]! > 0) {
      const slot = Math.max(this.deadlines[j]!, this.picks + 1) & this.mask;
      this.setDue(slot, this.due[slot]! - 1);
      this.byFirst.remove(j, slot);
      this.entered[j]!--;
      this.credits[j]! += total;
    } else {
      // Its first job was beyond the calendar, not counted yet: the next one is upcoming now.
      this.unlinkUpcoming(j);
      this.credits[j]! += total;
      this.upcoming[j] = ceilDiv(this.credits[j]! + total, w);
      this.linkUpcoming(j);
    }
    this.deadlines[j] = ceilDiv(this.credits[j]! + total, w);
    if (this.entered[j]! > 0) this.byFirst.add(j, Math.max(this.deadlines[j]!, this.picks + 1) & this.mask);
    this.advance();
  }

  /** Moves the window one pick on, and the calendar by BATCH picks when it has room. */
  private advance(): void {
    const t = ++this.picks;
    // A job fell due unserved: the weights changed to ones these lags cannot meet.
    if (this.due[t & this.mask] !== 0) this.stale = true;
    else if (this.covered + BATCH <= t + this.window) this.extend();
    if (t === REBASE_PICKS) this.rebase();
  }

  /** Counts the jobs due at the next BATCH picks past `covered`. */
  private extend(): void {
    const first = this.covered + 1;
    for (let q = first; q < first + BATCH; q++) {
      const slot = q & this.mask;
      let count = 0;
      for (let i = this.byUpcoming.first(slot); i >= 0;) {
        const following = this.byUpcoming.next(i);
        if (this.upcoming[i] === q) {
          count++;
          this.unlinkUpcoming(i);
          if (++this.entered[i]! === 1) this.byFirst.add(i, slot);
          // Its next job may fall inside this batch: linked now, it is met further on.
          this.upcoming[i] = ceilDiv(this.credits[i]! + (this.entered[i]! + 1) * this.total, this.weights[i]!);
          this.linkUpcoming(i);
        }
        i = following;
      }
      this.due[slot] = count;
    }
    const start = first & this.mask;
    const head = Math.min(BATCH, this.window - start);
    this.calendar.setRange(start, head, this.due);
    if (head < BATCH) this.calendar.setRange(0, BATCH - head, this.due);
    this.covered += BATCH;
  }

  /**
   * Up to PROPOSALS draws by share; a draw is kept when the item is released, its first job is
   * due by `tight`, and the rest of the draw's number falls under its hazard ratio (see the
   * module doc). -1 if none is kept.
   */
  private propose(tight: number): number {
    const { weights, credits, deadlines, entered, total, proposals } = this;
    const t = this.picks;
    for (let k = 0; k < PROPOSALS; k++) {
      const j = proposals.draw(this.random());
      if (entered[j] === 0 || deadlines[j]! > tight) continue;
      const w = weights[j]!;
      const lag = credits[j]! - t * w;
      if (lag >= w) continue;
      // Keep if rest * HAZARD_CAP < hazard / share: total / (total + lag) behind,
      // total (w - lag) / (w (total - lag)) ahead; both sides multiplied out.
      const u = proposals.restOver * HAZARD_CAP;
      const under = proposals.restUnder;
      if (lag < 0 ? u * (total + lag) < total * under : u * w * (total - lag) < total * (w - lag) * under) return j;
    }
    return -1;
  }

  /** Earliest deadline first among the released items: always safe when any pick is. */
  private earliestDeadline(tight: number): number {
    const p = this.picks + 1;
    const last = Math.min(tight, this.covered);
    for (let q = p; q <= last; q++) {
      for (let i = this.byFirst.first(q & this.mask); i >= 0; i = this.byFirst.next(i)) {
        if (this.credits[i]! < p * this.weights[i]!) return i;
      }
    }
    // No released item is due within the window: the earliest beyond it.
    let best = -1;
    for (let i = 0; i < this.weights.length; i++) {
      const w = this.weights[i]!;
      if (w > 0 && this.credits[i]! < p * w && (best < 0 || this.deadlines[i]! < this.deadlines[best]!)) best = i;
    }
    return best;
  }

  /** Rebuilds the calendar from the credits (jobs already overdue count as due at the next pick). */
  private fill(): void {
    this.stale = false;
    const size = this.window;
    if (this.due.length < size) this.due = new Int32Array(size);
    this.due.fill(0, 0, size);
    this.byFirst.reset(size);
    this.byUpcoming.reset(size);
    const { weights, credits, total } = this;
    const p = this.picks + 1;
    const end = this.picks + size;
    this.covered = end;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      this.entered[i] = 0;
      if (w === 0) continue;
      this.deadlines[i] = ceilDiv(credits[i]! + total, w);
      let due = this.deadlines[i]!;
      while (due <= end) {
        this.due[Math.max(due, p) & this.mask]!++;
        this.entered[i]!++;
        due = ceilDiv(credits[i]! + (this.entered[i]! + 1) * total, w);
      }
      this.upcoming[i] = due;
      this.linkUpcoming(i);
      if (this.entered[i]! > 0) this.byFirst.add(i, Math.max(this.deadlines[i]!, p) & this.mask);
    }
    this.calendar.rebuild(size, this.due);
  }

  /** Moves the credits' origin to now; REBASE_PICKS is a multiple of the window: no slot moves. */
  private rebase(): void {
    const t = this.picks;
    for (let i = 0; i < this.weights.length; i++) {
      if (this.weights[i] === 0) continue;
      this.credits[i]! -= t * this.weights[i]!;
      this.deadlines[i]! -= t;
      this.upcoming[i]! -= t;
    }
    this.covered -= t;
    this.picks = 0;
  }

  private setDue(slot: number, due: number): void {
    this.due[slot] = due;
    this.calendar.set(slot, due);
  }

  private linkUpcoming(i: number): void {
    this.byUpcoming.add(i, this.upcoming[i]! & this.mask);
  }

  /** Before `upcoming[i]` changes: its list is the one of its current value. */
  private unlinkUpcoming(i: number): void {
    this.byUpcoming.remove(i, this.upcoming[i]! & this.mask);
  }
}

/**
 * Picks ahead the calendar sees: four per active item. The jobs due run about half a job per item
 * behind the picks (each item is on average half a pick ahead of its share), so the earliest
 * deadlines, where the candidates are, lie within about n/2 picks; an item due further ahead is
 * a candidate once its deadline enters the window.
 */
function windowFor(weights: Float64Array): number {
  let active = 0;
  for (const w of weights) if (w > 0) active++;
  let size = MIN_WINDOW;
  while (size < 4 * active && size < MAX_WINDOW) size *= 2;
  return size;
}

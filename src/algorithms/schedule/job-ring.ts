/**
 * The weighted schedule for four or more active items: the jobs the earliest-deadline-first plan
 * (deadline-plan.ts) gives the next 32 picks, served in a random order that meets every deadline.
 * See docs/scheduler.md ("Four or more active items").
 *
 * The ring holds 32 jobs that can be served in the next 32 picks, each in its window (from its
 * release to its deadline). Its *slack* at pick p + k is k + 1 minus the jobs due by then; the
 * first pick where it is 0 is the first *tight* pick T. A released job due by T can be served
 * now and the other 31 still fit the picks after it (Hall's condition); with no tight pick, any
 * released job can. The pick is the one whose *target*, a pick drawn at random in its window when
 * it was planned, comes first. The plan then fills the freed place with the pick 32 ahead.
 *
 * Jobs are numbered 0..31 (a bit each); calendars by pick are bit masks of jobs; the slack of the
 * 32 picks is kept bit-sliced (6 bit planes, 32 lanes). One random number and no allocation per
 * pick; the plan's work is O(1) amortised.
 * @module
 */
import { PlanReplay } from './plan-replay.js';
import type { RandomSource } from '../random.js';

/** Jobs in the ring, and picks its slack covers. */
const LANES = 32;
/** Calendars by pick (release, deadline): picks p .. p + 63. */
const SLOTS = 64;
const SLOT = SLOTS - 1;
/** Calendar of targets: p - 64 .. p + 63. */
const TARGETS = 128;
const TARGET = TARGETS - 1;
/** Pick numbers are moved back after this many picks: a multiple of every calendar and of the plan's. */
const REBASE_PICKS = 4096;

/** The four-or-more-item schedule; `WeightedSchedule` holds one and feeds it its weights. */
export class JobRing {
  private total = 0;
  /** Picks served since the origin of the pick numbers; the next pick is `picks + 1`. */
  private picks = 0;
  /** The job `peek()` chose for the next pick; -1 when none. */
  private chosen = -1;
  /** The last choice was not known to be safe: count the slack again after it. */
  private recount = false;
  /** The credit (lag times the total weight, plus picks times the weight) of what was served. */
  private readonly credits: Float64Array;
  private readonly plan: PlanReplay;
  // The jobs: item, release, deadline, the pick it is filed under by deadline (-1: beyond the
  // deadline calendar), target.
  private readonly items = new Int32Array(LANES);
  private readonly releases = new Float64Array(LANES);
  private readonly deadlines = new Float64Array(LANES);
  private readonly filed = new Float64Array(LANES);
  private readonly targets = new Float64Array(LANES);
  /** Jobs released by the next pick. */
  private released = 0;
  /** By pick: jobs released there (later than the next pick). */
  private readonly releasing = new Int32Array(SLOTS);
  /** By pick: jobs due there, and how many. */
  private readonly due = new Int32Array(SLOTS);
  private readonly dueCounts = new Int32Array(SLOTS);
  /** Jobs due beyond the deadline calendar; looked at every 32 picks. */
  private far = 0;
  private sweepAt = 0;
  /** By pick: jobs with their target there; the earliest pick that may hold one. */
  private readonly aiming = new Int32Array(TARGETS);
  private earliestTarget = 0;
  // Slack at picks p .. p + 31 (lane k: pick p + k), bit-sliced: bit k of plane b is bit b of it.
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private s4 = 0;
  private s5 = 0;

  constructor(
    private readonly weights: Float64Array,
    private readonly random: RandomSource,
  ) {
    this.credits = new Float64Array(weights.length);
    this.plan = new PlanReplay(weights);
  }

  /** Installs lags (in calls, summing to 0 over the items of positive weight) for `weights`. */
  load(lags: Float64Array, total: number): void {
    this.total = total;
    for (let i = 0; i < lags.length; i++) this.credits[i] = this.weights[i]! > 0 ? lags[i]! * total : 0;
    this.plan.load(this.credits, total);
    this.picks = 0;
    this.chosen = -1;
    this.recount = false;
    this.released = 0;
    this.far = 0;
    this.releasing.fill(0);
    this.due.fill(0);
    this.dueCounts.fill(0);
    this.aiming.fill(0);
    this.earliestTarget = 1;
    this.sweepAt = 1 + LANES;
    for (let job = 0; job < LANES; job++) this.planInto(job, 1);
    this.recomputeSlack(1);
  }

  /** Each item's lag in calls, into `out`. */
  lags(out: Float64Array): void {
    for (let i = 0; i < out.length; i++) {
      const w = this.weights[i]!;
      out[i] = w > 0 ? (this.credits[i]! - this.picks * w) / this.total : 0;
    }
  }

  /** The item the next pick serves, without serving it. */
  peek(): number {
    if (this.chosen < 0) this.chosen = this.choose(this.picks + 1);
    return this.items[this.chosen]!;
  }

  /** Serves the next pick. */
  next(): number {
    const p = this.picks + 1;
    let job = this.chosen;
    if (job < 0) job = this.choose(p);
    else this.chosen = -1;
    const item = this.items[job]!;
    this.credits[item]! += this.total;
    this.remove(job, p);
    this.picks = p;
    const q = p + 1;
    // Its calendar slots are the next pick's last ones now: empty them first.
    if (this.dueCounts[p & SLOT] !== 0) this.carryOverdue(p);
    this.planInto(job, q);
    if (this.recount) {
      this.recount = false;
      this.recomputeSlack(q);
    } else {
      this.appendLane(q);
    }
    this.released |= this.releasing[q & SLOT]!;
    this.releasing[q & SLOT] = 0;
    if (q === this.sweepAt) this.sweep(q);
    if (this.earliestTarget <= q - SLOTS) this.ageTargets(q);
    if (p === REBASE_PICKS) this.rebase();
    return item;
  }

  /** The released job, due by the first tight pick, whose target comes first. */
  private choose(p: number): number {
    const zero = ~(this.s0 | this.s1 | this.s2 | this.s3 | this.s4 | this.s5);
    let candidates = this.released;
    if (zero !== 0) {
      const tight = 31 - Math.clz32(zero & -zero);
      let dueBy = 0;
      for (let k = 0; k <= tight; k++) dueBy |= this.due[(p + k) & SLOT]!;
      candidates &= dueBy;
    }
    // Only rounding, or weights the carried lags cannot meet, leave none: any released job, any job
    // (the slack is then counted again after the pick).
    if (candidates === 0) {
      candidates = this.released !== 0 ? this.released : -1;
      this.recount = true;
    }
    // No target is set before the next pick any more: the empty picks before it are done with.
    let t = this.earliestTarget;
    while (t < p && this.aiming[t & TARGET] === 0) t++;
    this.earliestTarget = t;
    for (const last = p + SLOTS; t < last; t++) {
      const hits = this.aiming[t & TARGET]! & candidates;
      if (hits !== 0) return 31 - Math.clz32(hits & -hits);
    }
    return 31 - Math.clz32(candidates & -candidates);
  }

  /** Takes job `job` (served at pick p) out of every calendar and out of the slack. */
  private remove(job: number, p: number): void {
    const bit = 1 << job;
    this.released &= ~bit;
    this.aiming[this.targets[job]! & TARGET]! &= ~bit;
    const filed = this.filed[job]!;
    if (filed < 0) {
      this.far &= ~bit;
    } else {
      this.due[filed & SLOT]! &= ~bit;
      this.dueCounts[filed & SLOT]!--;
    }
    // Lane k of the next pick is lane k + 1 now: one pick fewer to serve the jobs due before
    // this one's deadline, the same for those due from it on.
    const lanes = filed < 0 ? LANES : filed - p;
    this.shiftSlack(lanes >= LANES ? 0x7fff_ffff : lanes <= 1 ? 0 : (1 << (lanes - 1)) - 1);
  }

  /** Slack moves down a lane (to the next pick), less one in the lanes of `mask`. */
  private shiftSlack(mask: number): void {
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

  /** Lane 31 (pick q + 31): the slack of lane 30 plus one, less the jobs due there. */
  private appendLane(q: number): void {
    const before =
      ((this.s0 >>> 30) & 1) |
      (((this.s1 >>> 30) & 1) << 1) |
      (((this.s2 >>> 30) & 1) << 2) |
      (((this.s3 >>> 30) & 1) << 3) |
      (((this.s4 >>> 30) & 1) << 4) |
      (((this.s5 >>> 30) & 1) << 5);
    const slack = Math.max(0, before + 1 - this.dueCounts[(q + 31) & SLOT]!);
    this.s0 |= (slack & 1) << 31;
    this.s1 |= ((slack >> 1) & 1) << 31;
    this.s2 |= ((slack >> 2) & 1) << 31;
    this.s3 |= ((slack >> 3) & 1) << 31;
    this.s4 |= ((slack >> 4) & 1) << 31;
    this.s5 |= ((slack >> 5) & 1) << 31;
  }

  /** The slack of every lane from the counts of jobs due (after a load, or when deadlines were missed). */
  private recomputeSlack(p: number): void {
    this.s0 = this.s1 = this.s2 = this.s3 = this.s4 = this.s5 = 0;
    let slack = 0;
    for (let k = 0; k < LANES; k++) {
      slack = Math.max(0, slack + 1 - this.dueCounts[(p + k) & SLOT]!);
      this.s0 |= (slack & 1) << k;
      this.s1 |= ((slack >> 1) & 1) << k;
      this.s2 |= ((slack >> 2) & 1) << k;
      this.s3 |= ((slack >> 3) & 1) << k;
      this.s4 |= ((slack >> 4) & 1) << k;
      this.s5 |= ((slack >> 5) & 1) << k;
    }
  }

  /** Plans the next job of the plan as job `job`; `q` is the next pick. */
  private planInto(job: number, q: number): void {
    const plan = this.plan;
    plan.planNext();
    const bit = 1 << job;
    this.items[job] = plan.item;
    const release = plan.release;
    const deadline = plan.deadline;
    this.releases[job] = release;
    this.deadlines[job] = deadline;
    if (release <= q) this.released |= bit;
    else this.releasing[Math.min(release, q + SLOT) & SLOT]! |= bit;
    // A deadline already past (weights the lags cannot meet) is filed at the next pick.
    this.fileDue(job, Math.max(deadline, q), q);
    // Target: a pick drawn evenly from what is left of the job's window (within the calendar).
    const from = Math.max(release, q);
    const to = Math.max(from, Math.min(deadline, q + SLOT));
    const target = from + Math.floor(this.random() * (to - from + 1));
    this.targets[job] = target;
    this.aiming[target & TARGET]! |= bit;
    if (target < this.earliestTarget) this.earliestTarget = target;
  }

  private fileDue(job: number, at: number, q: number): void {
    const bit = 1 << job;
    if (at >= q + SLOTS) {
      this.filed[job] = -1;
      this.far |= bit;
      return;
    }
    this.filed[job] = at;
    this.due[at & SLOT]! |= bit;
    this.dueCounts[at & SLOT]!++;
  }

  /** Jobs due at pick p that it did not serve (the lags were not feasible): due at the next pick. */
  private carryOverdue(p: number): void {
    let jobs = this.due[p & SLOT]!;
    this.due[p & SLOT] = 0;
    this.dueCounts[p & SLOT] = 0;
    while (jobs !== 0) {
      const job = 31 - Math.clz32(jobs & -jobs);
      jobs &= jobs - 1;
      this.fileDue(job, p + 1, p + 1);
    }
    this.recount = true;
  }

  /** Files the jobs due beyond the calendar whose deadline is now within it (all beyond lane 31). */
  private sweep(q: number): void {
    this.sweepAt = q + LANES;
    let jobs = this.far;
    while (jobs !== 0) {
      const job = 31 - Math.clz32(jobs & -jobs);
      jobs &= jobs - 1;
      if (this.deadlines[job]! < q + SLOTS) {
        this.far &= ~(1 << job);
        this.fileDue(job, this.deadlines[job]!, q);
      }
    }
  }

  /** Targets a calendar's length in the past move up one pick, so that no two picks share a slot. */
  private ageTargets(q: number): void {
    while (this.earliestTarget <= q - SLOTS) {
      const t = this.earliestTarget;
      const jobs = this.aiming[t & TARGET]!;
      if (jobs !== 0) {
        this.aiming[t & TARGET] = 0;
        this.aiming[(t + 1) & TARGET]! |= jobs;
        for (let rest = jobs; rest !== 0; rest &= rest - 1) this.targets[31 - Math.clz32(rest & -rest)] = t + 1;
      }
      this.earliestTarget = t + 1;
    }
  }

  /** Moves the pick numbers back by REBASE_PICKS, keeping credits small (exact for integer weights). */
  private rebase(): void {
    const t = this.picks;
    for (let i = 0; i < this.weights.length; i++) this.credits[i]! -= t * this.weights[i]!;
    for (let job = 0; job < LANES; job++) {
      this.releases[job]! -= t;
      this.deadlines[job]! -= t;
      this.targets[job]! -= t;
      if (this.filed[job]! >= 0) this.filed[job]! -= t;
    }
    this.earliestTarget -= t;
    this.sweepAt -= t;
    this.plan.rebase(t);
    this.picks = 0;
  }
}

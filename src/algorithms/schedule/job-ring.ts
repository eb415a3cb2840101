/**
 * The weighted schedule for four or more active items: the jobs the earliest-deadline-first plan
 * (plan-replay.ts) gives the next 32 picks, served in a random order that meets every deadline.
 * See docs/scheduler.md ("Four or more active items").
 *
 * The ring holds 32 jobs that can be served in the next 32 picks, each in its window (from its
 * release to its deadline). A released job due by the first tight pick of the ring (slack-lanes.ts)
 * can be served now and the other 31 still fit the picks after it (Hall's condition); with no tight
 * pick, any released job can. The pick is the one whose *target*, a pick drawn evenly from what is
 * left of its window when it was planned, comes first. The plan then fills the freed place.
 *
 * Jobs are numbered 0..31, a bit each; the calendars by pick are bit masks of jobs. Half a random
 * number (16 bits) and no allocation per pick.
 * @module
 */
import { PlanReplay } from './plan-replay.js';
import type { RandomSource } from '../random.js';
import { LANES, SlackLanes } from './slack-lanes.js';

/** Calendar of deadlines: picks p .. p + 255; of releases (all within the ring): p .. p + 63. */
const SLOTS = 256;
const SLOT = SLOTS - 1;
const RELEASES = 64;
const RELEASE = RELEASES - 1;
/** Targets are drawn within this many picks of the next. */
const REACH = 64;
/** Calendar of targets: picks p - 64 .. p + 63, a bit each in `aimed`. */
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
  /** The unused half of the last random number, -1 when none. */
  private spareBits = -1;
  /** The last choice was not known to be safe, or deadlines were missed: recount the slack. */
  private recount = false;
  /** The credit (lag times the total weight, plus picks times the weight) of what was served. */
  private readonly credits: Float64Array;
  private readonly plan: PlanReplay;
  private readonly slack = new SlackLanes();
  // The jobs: item, deadline, the pick it is filed under by deadline (-1: beyond the calendar),
  // target.
  private readonly items = new Int32Array(LANES);
  private readonly deadlines = new Float64Array(LANES);
  private readonly filed = new Int32Array(LANES);
  private readonly targets = new Int32Array(LANES);
  /** Jobs released (each also filed by target). */
  private released = 0;
  /** By pick: jobs released there. */
  private readonly releasing = new Int32Array(RELEASES);
  /** By pick: jobs due there, and how many. */
  private readonly due = new Int32Array(SLOTS);
  private readonly dueCounts = new Int32Array(SLOTS);
  /** Jobs due beyond the calendar, filed as it reaches them (every 32 picks). */
  private far = 0;
  private sweepAt = 0;
  /** By pick: released jobs with their target there; one bit per pick with any. */
  private readonly aiming = new Int32Array(TARGETS);
  private readonly aimed = new Int32Array(TARGETS / 32);

  constructor(
    private readonly weights: Float64Array,
    private readonly random: RandomSource,
  ) {
    this.credits = new Float64Array(weights.length);
    this.plan = new PlanReplay(weights);
  }

  /**
   * Installs lags times `total` (summing to 0 over the items of positive weight) for `weights`;
   * with `period`, the plan keeps each job within its period (`DeadlinePlan.load`).
   */
  load(credits: Float64Array, total: number, period = 0): void {
    this.total = total;
    for (let i = 0; i < credits.length; i++) this.credits[i] = this.weights[i]! > 0 ? credits[i]! : 0;
    this.plan.load(this.credits, total, period);
    this.picks = 0;
    this.chosen = -1;
    this.recount = false;
    this.spareBits = -1;
    this.released = 0;
    this.far = 0;
    this.releasing.fill(0);
    this.due.fill(0);
    this.dueCounts.fill(0);
    this.aiming.fill(0);
    this.aimed.fill(0);
    this.sweepAt = 1 + LANES;
    for (let job = 0; job < LANES; job++) this.planInto(job, 1);
    this.slack.recompute(this.dueCounts, 1, SLOT);
  }

  /** The plan gave a job outside its window since `load`: its periods (or lags) cannot be met. */
  get missed(): boolean {
    return this.plan.missed;
  }

  /** Each item's lag times the total, into `out`: what `load` takes, with no division. */
  lagCredits(out: Float64Array): void {
    for (let i = 0; i < out.length; i++) {
      const w = this.weights[i]!;
      out[i] = w > 0 ? this.credits[i]! - this.picks * w : 0;
    }
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
    // Pick p's calendar slots are pick q's last ones now: anything still due at p moves on first.
    if (this.dueCounts[p & SLOT] !== 0) this.carryOverdue(p);
    this.planInto(job, q);
    if (this.recount) {
      this.recount = false;
      this.slack.recompute(this.dueCounts, q, SLOT);
    } else {
      this.slack.append(this.dueCounts[(q + LANES - 1) & SLOT]!);
    }
    const releasing = this.releasing[q & RELEASE]!;
    if (releasing !== 0) this.releaseAt(q, releasing);
    if (q === this.sweepAt) this.sweep(q);
    if (p === REBASE_PICKS) this.rebase();
    return item;
  }

  /** The released job, due by the first tight pick, whose target comes first. */
  private choose(p: number): number {
    const tight = this.slack.firstTight();
    let candidates = -1;
    if (tight >= 0) {
      candidates = 0;
      for (let k = 0; k <= tight; k++) candidates |= this.due[(p + k) & SLOT]!;
      candidates &= this.released;
    }
    // Weights the carried lags cannot meet (or rounding) leave none safe: the earliest target, and
    // the slack counted again after the pick.
    if (candidates === 0 || this.released === 0) {
      this.recount = true;
      if (this.released === 0) return 0;
      candidates = -1;
    }
    // The targets of released jobs, from the oldest (p - 64) on.
    const start = (p - REACH) & TARGET;
    let word = start >> 5;
    let bits = this.aimed[word]! & (-1 << (start & 31));
    for (let seen = 0; seen <= TARGETS / 32;) {
      if (bits === 0) {
        word = (word + 1) & 3;
        bits = this.aimed[word]!;
        seen++;
        continue;
      }
      const slot = (word << 5) + 31 - Math.clz32(bits & -bits);
      const hits = this.aiming[slot]! & candidates;
      if (hits !== 0) return 31 - Math.clz32(hits & -hits);
      bits &= bits - 1;
    }
    return 31 - Math.clz32(this.released & -this.released);
  }

  /** Takes job `job` (served at pick p) out of every calendar and out of the slack. */
  private remove(job: number, p: number): void {
    const bit = 1 << job;
    if ((this.released & bit) !== 0) this.unaim(job);
    else for (let slot = 0; slot < RELEASES; slot++) this.releasing[slot]! &= ~bit; // only when nothing was released
    const filed = this.filed[job]!;
    if (filed < 0) {
      this.far &= ~bit;
    } else {
      this.due[filed & SLOT]! &= ~bit;
      this.dueCounts[filed & SLOT]!--;
    }
    // Lane k of the next pick is lane k + 1 now: one pick fewer for the jobs due before this one's
    // deadline, the same for those due from it on.
    const lanes = filed < 0 ? LANES : filed - p;
    this.slack.shift(lanes >= LANES ? 0x7fff_ffff : lanes <= 1 ? 0 : (1 << (lanes - 1)) - 1);
  }

  /** Plans the next job of the plan as job `job`; `q` is the next pick. */
  private planInto(job: number, q: number): void {
    const plan = this.plan;
    plan.planNext();
    this.items[job] = plan.item;
    const release = plan.release;
    const deadline = plan.deadline;
    this.deadlines[job] = deadline;
    // A deadline already past (weights the lags cannot meet) is filed at the next pick.
    this.fileDue(job, Math.max(deadline, q), q);
    // Target: a pick drawn evenly from what is left of the job's window (within the calendar).
    const from = Math.max(release, q);
    const to = Math.max(from, Math.min(deadline, q + REACH - 1));
    this.targets[job] = from + ((this.halfRandom() * (to - from + 1)) >>> 16);
    if (release <= q) this.aim(job);
    else this.releasing[Math.min(release, q + RELEASE) & RELEASE]! |= 1 << job;
  }

  /** 16 random bits: each number from the source gives two. */
  private halfRandom(): number {
    if (this.spareBits >= 0) {
      const bits = this.spareBits;
      this.spareBits = -1;
      return bits;
    }
    const bits = (this.random() * 0x1_0000_0000) >>> 0;
    this.spareBits = bits >>> 16;
    return bits & 0xffff;
  }

  /** Job `job` is released: it may be chosen, by its target. */
  private aim(job: number): void {
    const bit = 1 << job;
    const slot = this.targets[job]! & TARGET;
    this.released |= bit;
    this.aiming[slot]! |= bit;
    this.aimed[slot >> 5]! |= 1 << (slot & 31);
  }

  private unaim(job: number): void {
    const bit = 1 << job;
    const slot = this.targets[job]! & TARGET;
    this.released &= ~bit;
    if ((this.aiming[slot]! &= ~bit) === 0) this.aimed[slot >> 5]! &= ~(1 << (slot & 31));
  }

  private releaseAt(q: number, jobs: number): void {
    this.releasing[q & RELEASE] = 0;
    for (; jobs !== 0; jobs &= jobs - 1) this.aim(31 - Math.clz32(jobs & -jobs));
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
    for (; jobs !== 0; jobs &= jobs - 1) this.fileDue(31 - Math.clz32(jobs & -jobs), p + 1, p + 1);
    this.recount = true;
  }

  /**
   * Every 32 picks: files the jobs due beyond the calendar whose deadline it now reaches (all due
   * beyond lane 31), and moves targets older than 32 picks up to then, so that none is older
   * than the target calendar's 64 picks of past.
   */
  private sweep(q: number): void {
    this.sweepAt = q + LANES;
    for (let jobs = this.far; jobs !== 0; jobs &= jobs - 1) {
      const job = 31 - Math.clz32(jobs & -jobs);
      if (this.deadlines[job]! >= q + SLOTS) continue;
      this.far &= ~(1 << job);
      this.fileDue(job, this.deadlines[job]!, q);
    }
    for (let t = q - REACH; t < q - LANES; t++) {
      const jobs = this.aiming[t & TARGET]!;
      if (jobs === 0) continue;
      for (let rest = jobs; rest !== 0; rest &= rest - 1) {
        const job = 31 - Math.clz32(rest & -rest);
        this.unaim(job);
        this.targets[job] = q - LANES;
        this.aim(job);
      }
    }
  }

  /** Moves the pick numbers back by REBASE_PICKS, keeping credits small (exact for integer weights). */
  private rebase(): void {
    const t = this.picks;
    for (let i = 0; i < this.weights.length; i++) this.credits[i]! -= t * this.weights[i]!;
    for (let job = 0; job < LANES; job++) {
      this.deadlines[job]! -= t;
      this.targets[job]! -= t;
      if (this.filed[job]! >= 0) this.filed[job]! -= t;
    }
    this.sweepAt -= t;
    this.plan.rebase(t);
    this.picks = 0;
  }
}

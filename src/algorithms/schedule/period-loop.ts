/**
 * The weighted schedule for four or more active items: one period served by the job ring
 * (job-ring.ts) and recorded, then served from the record for ever, shuffled as it goes by random
 * swaps that keep every lag in (-1, 1). See docs/scheduler.md ("The loop").
 *
 * With integer weights, a period of `total / gcd` picks holding `w / gcd` picks of each item brings
 * every lag back to where it started. The ring's plan keeps each job within such a period, so the
 * first period after a load ends where it began; each of its picks is recorded with its *window*:
 * how many picks earlier and later it could have been, every lag staying in (-1, 1). The record
 * is then the next `period` picks: the first is served at each pick and stays as the same pick one
 * period later. After each pick, the entry served next and one 1 to 4 picks after it swap places
 * when both stay within their windows, which move with them. A few loads and stores and two random
 * bits a pick; no allocation.
 * @module
 */
import type { RandomSource } from '../random.js';
import { JobRing } from './job-ring.js';
import { weightsDivisor } from './schedule-math.js';

/** The longest period recorded (picks), 8 bytes a pick (128 KiB at most). */
const MAX_PERIOD = 16_384;
/** Windows are kept below this many picks each way (a narrower window is still a window). */
const WINDOW_CAP = 0x3fff;
/** Recordings tried after a load before the ring serves alone (until the next load). */
const MAX_ATTEMPTS = 4;
/** Error of a lag times the total (`lag * total`, then sums of products below 2^52) relative to
 * the total, with a wide margin. */
const FLOAT_SLACK = 2 ** -36;

/** The four-or-more-item schedule; `WeightedSchedule` holds one and feeds it its weights. */
export class PeriodLoop {
  private total = 0;
  /** Picks in a period; 0 when there is none to record (fractional weights, too long). */
  private period = 0;
  /** Serving from the record (else the ring serves, and records while `period` is not 0). */
  private looping = false;
  /** Picks since the period's start: the entry served next, or recorded next. */
  private pos = 0;
  /** Per pick of the period: item, then window as `earlier << 16 | later` (picks). */
  private entries = new Int32Array(0);
  /** Random bits not used yet, above a 1 that marks where they end (24 bits from each number). */
  private bits = 0;
  /** Records since the load that did not loop. */
  private attempts = 0;
  /** Picks the ring serves without recording before it records again. */
  private pause = 0;
  /** Every recorded pick kept every lag in (-1, 1). */
  private recordValid = true;
  /** The gcd of the weights (-1 when one is not an integer). */
  private divisor = 0;
  /** Per item: lag times the total where the period starts, picks since, picks per period. */
  private readonly starts: Float64Array;
  private readonly counts: Int32Array;
  private readonly perPeriod: Int32Array;
  private readonly ring: JobRing;
  private readonly retryCredits: Float64Array;

  constructor(
    private readonly weights: Float64Array,
    private readonly random: RandomSource,
  ) {
    const n = weights.length;
    this.starts = new Float64Array(n);
    this.counts = new Int32Array(n);
    this.perPeriod = new Int32Array(n);
    this.retryCredits = new Float64Array(n);
    this.ring = new JobRing(weights, random);
  }

  /**
   * Installs lags (in calls, summing to 0 over the items of positive weight) for `weights`: this
   * runs at every change of weights, rarely enough to stay unoptimised.
   */
  load(lags: Float64Array, total: number): void {
    const weights = this.weights;
    this.total = total;
    this.attempts = 0;
    this.pause = 0;
    for (let i = 0; i < weights.length; i++) {
      this.starts[i] = weights[i]! > 0 ? lags[i]! * total : 0;
      this.counts[i] = 0;
    }
    const divisor = weightsDivisor(weights);
    // `lag * total` of a lag that was `c / total` can miss the integer c by an ulp (1 / 49 * 49 < 1):
    // a credit of w - 1e-15 lets an item be picked to a lag of exactly 1, and the loop would serve
    // that pick every period. With integer weights, credits that close to an integer are one.
    if (divisor > 0) {
      const tolerance = Math.min(0.25, total * FLOAT_SLACK);
      for (let i = 0; i < weights.length; i++) {
        const nearest = Math.round(this.starts[i]!);
        if (Math.abs(this.starts[i]! - nearest) <= tolerance) this.starts[i] = nearest;
      }
    }
    this.divisor = divisor;
    this.period = periodOf(divisor, total);
    if (this.entries.length < 2 * this.period) this.entries = new Int32Array(2 * this.period);
    this.record();
  }

  /** Each item's lag in calls, into `out`. */
  lags(out: Float64Array): void {
    if (!this.looping) return this.ring.lags(out);
    const { weights, total, pos } = this;
    for (let i = 0; i < out.length; i++) {
      const w = weights[i]!;
      out[i] = w > 0 ? (this.starts[i]! + this.counts[i]! * total - pos * w) / total : 0;
    }
  }

  /** The item the next pick serves, without serving it. */
  peek(): number {
    return this.looping ? this.entries[2 * this.pos]! : this.ring.peek();
  }

  /** Serves the next pick. */
  next(): number {
    if (!this.looping) return this.nextRecorded();
    const entries = this.entries;
    const period = this.period;
    const at = this.pos;
    const item = entries[2 * at]!;
    this.counts[item]!++;
    const pos = at + 1 < period ? at + 1 : this.wrap();
    this.pos = pos;
    // One swap proposal: the entry served next and the one `distance` (1 to 4) after it, swapped
    // when each stays within its window. The pair depends on two random bits alone, so a swap and
    // its undoing are proposed alike.
    let bits = this.bits;
    if (bits < 4) bits = (this.random() * 0x100_0000) | 0 | 0x100_0000;
    this.bits = bits >> 2;
    const distance = 1 + (bits & 3);
    if (distance >= period) return item;
    let y = pos + distance;
    if (y >= period) y -= period;
    const windowX = entries[2 * pos + 1]!;
    const windowY = entries[2 * y + 1]!;
    if ((windowX & 0xffff) < distance || windowY >> 16 < distance) return item;
    const other = entries[2 * pos]!;
    entries[2 * pos] = entries[2 * y]!;
    entries[2 * y] = other;
    const moved = (distance << 16) - distance;
    entries[2 * pos + 1] = windowY - moved;
    entries[2 * y + 1] = windowX + moved;
    return item;
  }

  /** A whole period served: the counts start again (the lags are where the period began). */
  private wrap(): number {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! -= this.perPeriod[i]!;
    return 0;
  }

  /** The ring serves; the pick and its window are recorded. */
  private nextRecorded(): number {
    const item = this.ring.next();
    if (this.period === 0) return item;
    if (this.pause > 0) {
      if (--this.pause === 0) this.recordAgain();
      return item;
    }
    const k = this.pos;
    const w = this.weights[item]!;
    const total = this.total;
    // The item's lag (times the total) before this pick. Taken j picks earlier, the lag after it
    // would be `lag + total - w + j w`, below `total` while `j < 1 - lag / w`; taken j picks later,
    // the lag before it would be `lag - j w`, above `-total` while `j < (lag + total) / w`. Each
    // quotient is corrected once, as `ceilDiv` does.
    const lag = this.starts[item]! + (this.counts[item]! * total - k * w);
    // A window whose end is the bound to within rounding is cut there: the loop serves it for ever.
    const slack = total * FLOAT_SLACK;
    let earlier = Math.ceil(-lag / w);
    if (lag + earlier * w >= w - slack) earlier--;
    let later = Math.ceil((lag + total) / w) - 1;
    if (lag - later * w <= slack - total) later--;
    if (earlier < 0 || later < 0) this.recordValid = false;
    this.entries[2 * k] = item;
    this.entries[2 * k + 1] = (Math.min(earlier, WINDOW_CAP) << 16) | Math.min(later, WINDOW_CAP);
    this.counts[item]!++;
    this.pos = k + 1;
    if (this.pos === this.period || this.ring.missed) this.closeRecord();
    return item;
  }

  /**
   * The loop starts when the record is a whole period that kept every lag in (-1, 1) and gave each
   * item its picks per period. Else (lags the plan cannot fit into periods: it gave a job outside
   * its window) the ring serves with no periods from where it is, and records again a period later,
   * a few times; then it serves alone until the next load.
   */
  private closeRecord(): void {
    let closed = this.recordValid && this.pos === this.period && !this.ring.missed;
    for (let i = 0; i < this.counts.length && closed; i++) {
      this.perPeriod[i] = this.weights[i]! / this.divisor;
      closed = this.counts[i] === this.perPeriod[i];
    }
    if (closed) {
      this.looping = true;
      this.pos = 0;
      this.counts.fill(0);
      return;
    }
    this.ring.lagCredits(this.retryCredits);
    this.ring.load(this.retryCredits, this.total);
    if (++this.attempts < MAX_ATTEMPTS) this.pause = this.period;
    else this.period = 0;
  }

  /** Records again from the ring's lags, after a record that did not loop. */
  private recordAgain(): void {
    this.ring.lagCredits(this.starts);
    this.counts.fill(0);
    this.record();
  }

  /** The ring serves from `starts` and records, within periods. */
  private record(): void {
    this.looping = false;
    this.pos = 0;
    this.recordValid = true;
    this.ring.load(this.starts, this.total, this.period);
  }
}

/**
 * `total / divisor` (the gcd of integer weights, else -1) when it is at most MAX_PERIOD and every
 * product of a period and the total is exact; else 0.
 */
function periodOf(divisor: number, total: number): number {
  if (divisor <= 0 || !Number.isInteger(total)) return 0;
  const period = total / divisor;
  return period <= MAX_PERIOD && period * total <= 2 ** 52 ? period : 0;
}

/**
 * Where a keyless stream starts: the split's start schedule, held back from a subset that
 * already holds its share of the open streams. Short streams then follow the weights as unary
 * calls do, and long-lived ones sit at their share of the open streams; the rule and the proof of
 * both bounds are in docs/streams-placement.md. No gRPC, no clock.
 * @module
 */
import { ScheduleBook } from '../schedule/schedule-book.js';

/** What the placement reads of the open streams. */
export interface OpenStreams {
  /** Streams open on `subset` now (keyless, keyed and pinned alike), or waiting for it (their
   * pick for it queued: a subset still connecting is not empty, it is about to get them). */
  openOrWaitingOn(subset: number): number;
}

/**
 * The start schedules of one split and the rule that holds them back. One instance per split,
 * shared by all its channels, like the call schedule; its schedules are not the call schedule's,
 * so unary calls and stream starts are each exact on their own.
 */
export class StreamStarts {
  /** One start schedule per set of subsets (the eligible ones, and the ones a skip leaves), each
   * carrying its lag across weight changes as the call schedules do. */
  private readonly schedules: ScheduleBook;
  /** The weights last handed to `schedules` (the split replaces, never mutates, its array). */
  private weightsInForce: readonly number[] = [];
  /** Starts placed by a skip since the split began: the `k` of the start bound. */
  skipped = 0;

  /** `seed` fixes the phase of every start schedule. */
  constructor(seed: number) {
    this.schedules = new ScheduleBook([], seed);
  }

  /**
   * The subset a new keyless stream goes to, among `eligible` subsets of positive share (shares
   * from `weights`, or equal with `equalShares`); -1 when there is none.
   *
   * The start schedule of the eligible set proposes a subset. It is taken when it holds fewer
   * than its share of the open streams counting the new one (`open_i < share_i * (open + 1)`).
   * Otherwise the start is *skipped*: the proposal stays pending in that schedule, its lag
   * untouched, and the stream goes where the start schedule of the subsets that do hold fewer
   * than their share sends it. Some subset always does (the shortfalls sum to one stream).
   */
  choose(open: OpenStreams, eligible: ArrayLike<number>, weights: readonly number[], equalShares: boolean): number {
    const members: number[] = [];
    let total = 0;
    let openTotal = 0;
    for (let k = 0; k < eligible.length; k++) {
      const i = eligible[k]!;
      const w = equalShares ? 1 : weights[i]!;
      if (!(w > 0)) continue;
      members.push(i);
      total += w;
      openTotal += open.openOrWaitingOn(i);
    }
    if (members.length === 0) return -1;
    if (weights !== this.weightsInForce) {
      this.schedules.apply(weights);
      this.weightsInForce = weights;
    }
    // Scaled by the total weight: exact in integers for integer weights.
    const belowShare = (i: number): boolean =>
      (equalShares ? 1 : weights[i]!) * (openTotal + 1) > total * open.openOrWaitingOn(i);
    const schedule = this.schedules.scheduleFor(members, equalShares);
    const proposed = schedule.peek();
    if (belowShare(proposed)) return schedule.next();
    const below = members.filter(belowShare);
    // Empty only if rounding of fractional weights hid the one below: follow the schedule.
    if (below.length === 0) return schedule.next();
    this.skipped++;
    return this.schedules.scheduleFor(below, equalShares).next();
  }
}

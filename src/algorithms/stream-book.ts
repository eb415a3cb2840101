/**
 * The open streams of one split, shared by all its channels: which subset each streaming call is
 * on, and where the next keyless stream goes. No gRPC import: the split's interceptor gives each
 * streaming call a record (stream-tracking.ts), the picker places it (stream-pick.ts), and this
 * book keeps the counts.
 *
 * Counting: a record is in at most one subset's set at any time, so the count of a subset is the
 * size of its set, and nothing can count a stream twice or forget to uncount it: a stream leaves
 * its set when its attempt ends, when grpc-js picks it again (the pick it held was dropped before
 * the stream started, or a retry), and, for good, when the call's final status reaches the
 * interceptor, however the call ended. A stream counts from its pick, not from its start: grpc-js
 * starts a stream only after the call credentials resolve, so a burst of streams opened in one
 * tick would all see zero open streams if counted at the start.
 * @module
 */

/** How a stream was routed: what a rebalancing may do with it. */
export const enum StreamPin {
  /** By the open-stream placement: the split may end it to move it. */
  Keyless = 0,
  /** By its sticky key: ended only when the key maps to another subset. */
  Keyed = 1,
  /** By an explicit route or a header rule: never ended by the split. */
  Pinned = 2,
}

/** One streaming call (all its attempts). */
export interface StreamRecord {
  /** The subset it is placed on, -1 while none. */
  subset: number;
  /** Bumped at each placement, so that the end of an older attempt does not unplace a newer. */
  placement: number;
  pin: StreamPin;
  /** The sticky key it was routed by (pin Keyed). */
  key: string | undefined;
  /** Where its key maps under the weights and READY subsets last planned with: a key comes from
   * a header outside clients control, so a rebalancing hashes it once per change, not per tick. */
  keyTarget: { readonly key: string; readonly weights: readonly number[]; readonly eligible: string; readonly to: number } | null;
  /** Its current placement's attempt has started (only started streams are ever ended). */
  started: boolean;
  /** The started attempts still running, token to subset: hedged attempts run side by side, and
   * the one that carries the stream on may be an older one than the last placed. */
  readonly attempts: Map<number, number>;
  /** The attempt of the newest placement has ended. */
  placementEnded: boolean;
  /** `clock.now()` at its first start, NaN before. */
  startedAt: number;
  /** The call's final status has been seen. */
  ended: boolean;
  /** The details the split ended it with, or null: at most one end per stream. */
  endedBySplit: string | null;
  /** Ends the call on the client side with UNAVAILABLE and `details`. */
  readonly end: (details: string) => void;
  /** What the split's ender keeps for this stream (its age timer). */
  timer: object | null;
}

/** Told when a stream first starts and when it ends for good (the age limit's timers). */
export interface StreamLifecycleListener {
  streamStarted(record: StreamRecord): void;
  streamEnded(record: StreamRecord): void;
}

export class StreamBook {
  private readonly bySubset: Set<StreamRecord>[];
  /** Rotates the order in which tied subsets are preferred, so that replicas started together
   * do not all put their first stream on the same subset of equal weight. */
  private readonly tieOffset: number;
  listener: StreamLifecycleListener | null = null;

  constructor(
    readonly subsetCount: number,
    random: () => number,
    private readonly now: () => number,
  ) {
    this.bySubset = Array.from({ length: subsetCount }, () => new Set<StreamRecord>());
    this.tieOffset = Math.floor(random() * subsetCount);
  }

  /** A record for a new streaming call; `end` is how the split can end it. */
  newRecord(end: (details: string) => void): StreamRecord {
    return { subset: -1, placement: 0, pin: StreamPin.Keyless, key: undefined, keyTarget: null, started: false, attempts: new Map(), placementEnded: false, startedAt: NaN, ended: false, endedBySplit: null, end, timer: null };
  }

  /** Streams placed on `subset` now. */
  openOn(subset: number): number {
    return this.bySubset[subset]?.size ?? 0;
  }

  /** The streams on `subset`, in the order they were placed (oldest first). */
  streamsOn(subset: number): ReadonlySet<StreamRecord> {
    return this.bySubset[subset]!;
  }

  /** The picker gave `record` a COMPLETE pick on `subset`. Returns the placement's token. */
  place(record: StreamRecord, subset: number, pin: StreamPin): number {
    if (record.ended) return -1;
    this.moveTo(record, subset);
    record.pin = pin;
    record.started = false;
    record.placementEnded = false;
    return ++record.placement;
  }

  /** The attempt of placement `token`, on `subset`, started. */
  started(record: StreamRecord, token: number, subset: number = record.subset): void {
    if (record.placement !== token || record.ended) return;
    record.started = true;
    if (subset >= 0) {
      this.moveTo(record, subset);
      record.attempts.set(token, subset);
    }
    if (Number.isNaN(record.startedAt)) {
      record.startedAt = this.now();
      this.listener?.streamStarted(record);
    }
  }

  /** The attempt of placement `token` ended: the stream leaves its subset unless a newer
   * placement replaced that one, or another of its attempts still runs (a hedge: the stream
   * then counts where that one runs). */
  attemptEnded(record: StreamRecord, token: number): void {
    const running = record.attempts.delete(token);
    if (record.placement === token) record.placementEnded = true;
    // An older attempt that carried the stream after the newest one ended (a hedge) releases it too.
    if (record.placementEnded || (running && record.attempts.size > 0)) this.release(record);
  }

  private moveTo(record: StreamRecord, subset: number): void {
    if (record.subset === subset) return;
    if (record.subset >= 0) this.bySubset[record.subset]!.delete(record);
    this.bySubset[subset]!.add(record);
    record.subset = subset;
  }

  /** The stream holds no place (its pick queued or failed). */
  release(record: StreamRecord): void {
    for (const subset of record.attempts.values()) {
      // Another attempt still carries it (a hedge): it counts there.
      this.moveTo(record, subset);
      record.started = true;
      return;
    }
    if (record.subset >= 0) this.bySubset[record.subset]!.delete(record);
    record.subset = -1;
    record.started = false;
  }

  /** The call's final status: the stream is gone for good. Idempotent. */
  ended(record: StreamRecord): void {
    record.attempts.clear();
    this.release(record);
    if (record.ended) return;
    record.ended = true;
    this.listener?.streamEnded(record);
  }

  /**
   * Where a keyless stream goes: among `eligible` subsets, the one furthest below its share of
   * the open streams counting this one, `share * (open + 1) - openOn(i)` (shares from `weights`,
   * or equal with `equalShares`). Starting from no streams this is smooth weighted round robin;
   * after any starts and ends it fills the subset most in deficit first, so when the open
   * streams are a subset of a split that was exact, new ones bring it back to exact. Ties go to
   * the subset first after the book's random offset. -1 when `eligible` is empty.
   */
  choose(eligible: ArrayLike<number>, weights: readonly number[], equalShares: boolean): number {
    let open = 0;
    let total = 0;
    for (let k = 0; k < eligible.length; k++) {
      const i = eligible[k]!;
      open += this.bySubset[i]!.size;
      total += equalShares ? 1 : weights[i]!;
    }
    let best = -1;
    let bestDeficit = -Infinity;
    let bestRank = Infinity;
    for (let k = 0; k < eligible.length; k++) {
      const i = eligible[k]!;
      const w = equalShares ? 1 : weights[i]!;
      if (!(w > 0)) continue;
      // Scaled by the total weight: exact in integers for integer weights.
      const deficit = w * (open + 1) - total * this.bySubset[i]!.size;
      const rank = (i - this.tieOffset + this.subsetCount) % this.subsetCount;
      if (deficit > bestDeficit || (deficit === bestDeficit && rank < bestRank)) {
        best = i;
        bestDeficit = deficit;
        bestRank = rank;
      }
    }
    return best;
  }
}

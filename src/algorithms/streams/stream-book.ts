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
 *
 * Placement of keyless streams: `StreamStarts` (stream-starts.ts, docs/streams-placement.md).
 * @module
 */
import { StreamStarts } from './stream-starts.js';

/** How a stream was routed: what a rebalancing may do with it. */
export const enum StreamPin {
  /** By the stream placement: the split may end it to move it. */
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
  /** The subset the start placement gave it, -1 before: its later picks (a pick that queued, a
   * retry) keep it while it is eligible, so a stream is one start however often it is picked. */
  drawn: number;
  /** The subset its last pick queued for (not READY yet), -1 when none. */
  waitingFor: number;
  /** The sticky key it was routed by (pin Keyed). */
  key: string | undefined;
  /** Where its key maps under the weights and READY subsets last planned with: a key comes from
   * a header outside clients control, so a rebalancing hashes it once per change, not per tick. */
  keyTarget: {
    readonly key: string;
    readonly weights: readonly number[];
    readonly eligible: string;
    readonly to: number;
  } | null;
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
  /** The book it was last placed in, null before: the split's, or a method override's (each
   * override balances its own streams). Its end is told to that book. */
  home: StreamBook | null;
  /** Its call's slot in the per-method figures (-1: none): `stats()` counts open streams by it. */
  method: number;
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
  /** Streams whose pick for a subset queued (not READY yet), by subset: not open there, but
   * counted by the placement, which would otherwise see a connecting subset empty and send it
   * every new stream. */
  private readonly waitingBySubset: Set<StreamRecord>[];
  /** Where keyless streams start. */
  readonly starts: StreamStarts;
  listener: StreamLifecycleListener | null = null;

  constructor(
    readonly subsetCount: number,
    random: () => number,
    private readonly now: () => number,
  ) {
    this.bySubset = Array.from({ length: subsetCount }, () => new Set<StreamRecord>());
    this.waitingBySubset = Array.from({ length: subsetCount }, () => new Set<StreamRecord>());
    // Seeds the start schedules' phases: replicas started together do not move in lockstep.
    this.starts = new StreamStarts(Math.floor(random() * 0x1_0000_0000));
  }

  /** A record for a new streaming call; `end` is how the split can end it. */
  newRecord(end: (details: string) => void): StreamRecord {
    return {
      subset: -1,
      placement: 0,
      drawn: -1,
      waitingFor: -1,
      pin: StreamPin.Keyless,
      key: undefined,
      keyTarget: null,
      started: false,
      attempts: new Map(),
      placementEnded: false,
      startedAt: NaN,
      ended: false,
      endedBySplit: null,
      end,
      timer: null,
      home: null,
      method: -1,
    };
  }

  /** Streams placed on `subset` now. */
  openOn(subset: number): number {
    return this.bySubset[subset]?.size ?? 0;
  }

  /** Streams open on `subset` or waiting for it: what the placement balances. */
  openOrWaitingOn(subset: number): number {
    return this.openOn(subset) + (this.waitingBySubset[subset]?.size ?? 0);
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
    this.stopWaiting(record);
    if (record.subset === subset) return;
    if (record.subset >= 0) this.bySubset[record.subset]!.delete(record);
    this.bySubset[subset]!.add(record);
    record.subset = subset;
  }

  /** The stream holds no place (its pick failed, or it ended). */
  release(record: StreamRecord): void {
    this.stopWaiting(record);
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

  /** Takes over every stream placed in `other`, or waiting there (a method override's book, as
   * the override goes): they stay open and counted, here, and end here. */
  adopt(other: StreamBook): void {
    for (let subset = 0; subset < this.subsetCount; subset++) {
      for (const record of other.bySubset[subset]!) {
        this.bySubset[subset]!.add(record);
        record.home = this;
      }
      for (const record of other.waitingBySubset[subset]!) {
        this.waitingBySubset[subset]!.add(record);
        record.home = this;
      }
      other.bySubset[subset]!.clear();
      other.waitingBySubset[subset]!.clear();
    }
  }

  /** The pick for `subset` queued: the stream holds no place, and waits for that subset. */
  queued(record: StreamRecord, subset: number): void {
    this.release(record);
    // Gone, or still carried by another attempt (a hedge): it waits for nothing.
    if (record.ended || record.subset >= 0) return;
    this.waitingBySubset[subset]!.add(record);
    record.waitingFor = subset;
  }

  private stopWaiting(record: StreamRecord): void {
    if (record.waitingFor < 0) return;
    this.waitingBySubset[record.waitingFor]!.delete(record);
    record.waitingFor = -1;
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
   * Where the keyless stream `record` goes among `eligible` subsets (shares from `weights`, or
   * equal with `equalShares`): the start schedule, held back from a subset already at its share
   * of the open streams (see `StreamStarts.choose`). A stream that was already given a subset
   * keeps it while that subset is eligible. -1 when no eligible subset has a share.
   */
  choose(
    eligible: ArrayLike<number>,
    weights: readonly number[],
    equalShares: boolean,
    record?: StreamRecord,
  ): number {
    const drawn = record?.drawn ?? -1;
    if (drawn >= 0 && (equalShares || weights[drawn]! > 0) && contains(eligible, drawn)) return drawn;
    const subset = this.starts.choose(this, eligible, weights, equalShares);
    if (record !== undefined) record.drawn = subset;
    return subset;
  }
}

function contains(list: ArrayLike<number>, value: number): boolean {
  for (let k = 0; k < list.length; k++) if (list[k] === value) return true;
  return false;
}

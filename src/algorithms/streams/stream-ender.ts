/**
 * The split ending open streams on the client side, on its clock: after a weight change or a subset becoming
 * READY (opt-in, paced over a window) and at an age limit (opt-in, jittered). Every stream it ends gets
 * UNAVAILABLE, the status gRPC clients already treat as "connect again", with details saying why; the
 * application re-opens it and the stream placement puts it where it belongs.
 *
 * Pacing: a weight change plans the ends needed then (stream-plan.ts), E of them, and ends one
 * every `withinMs / E`, the first at once, so the last falls before the window closes and a
 * thousand re-subscriptions do not arrive together. Each tick plans again and ends the first
 * stream of that plan, so streams that ended meanwhile, or weights that changed again, are
 * taken into account; a change restarts the pacing without ending faster than the new pace
 * allows after the last end. A change ends at most the E streams it planned: when a channel
 * cannot place a re-opened stream where it should go (its subset is not READY there), the
 * split does not keep ending it.
 * @module
 */
import { unrefTimer, type Clock, type ClockTimer } from '../../base/clock.js';
import type { StreamBook, StreamLifecycleListener, StreamRecord } from './stream-book.js';
import { StreamPin } from './stream-book.js';
import { planRebalance, type PlanInputs } from './stream-plan.js';

/** When and how the split ends streams to follow a weight change. */
export interface RebalanceStreamsOptions {
  /** The window over which the streams to move are ended, evenly spread, in milliseconds. */
  withinMs: number;
}

export interface StreamEnderOptions {
  readonly book: StreamBook;
  readonly clock: Clock;
  readonly random: () => number;
  readonly subsetNames: readonly string[];
  /** The plan's inputs under the weights in force, built at each tick. */
  readonly planInputs: () => PlanInputs;
  /** Age limit in milliseconds, or null. */
  readonly maxStreamAgeMs: number | null;
}

/** Streams reaching the age limit are ended between 90% and 100% of it. */
const AGE_JITTER = 0.1;

export class StreamEnder implements StreamLifecycleListener {
  private timer: ClockTimer | null = null;
  private paceMs = 0;
  private remaining = 0;
  private lastEndAt = -Infinity;
  private closed = false;

  constructor(private readonly options: StreamEnderOptions) {
    options.book.listener = this;
  }

  /** New weights are in force: with `rebalance`, end what they require, paced; without it,
   * stop any rebalancing still under way (the change says not to move streams). */
  weightsChanged(rebalance: RebalanceStreamsOptions | null): void {
    this.stopPacing();
    if (this.closed || rebalance === null) return;
    const { count } = planRebalance(this.options.book, this.options.planInputs());
    if (count === 0) return;
    this.remaining = count;
    this.paceMs = rebalance.withinMs / count;
    const now = this.options.clock.now();
    this.arm(Math.max(0, this.lastEndAt + this.paceMs - now));
  }

  /** A subset became READY: rebalance towards it as after a weight change, unless a
   * rebalancing is already under way (it plans again at each tick). */
  subsetReady(rebalance: RebalanceStreamsOptions): void {
    if (this.timer === null) this.weightsChanged(rebalance);
  }

  streamStarted(record: StreamRecord): void {
    const maxAge = this.options.maxStreamAgeMs;
    if (maxAge === null || this.closed || record.pin === StreamPin.Pinned) return;
    const ageMs = maxAge * (1 - AGE_JITTER * this.options.random());
    const { clock } = this.options;
    const timer = clock.setTimeout(() => this.ageReached(record, maxAge), ageMs);
    unrefTimer(timer);
    record.timer = timer;
  }

  streamEnded(record: StreamRecord): void {
    if (record.timer !== null) this.options.clock.clearTimeout(record.timer);
    record.timer = null;
  }

  /** Stops every timer; streams stay open. */
  close(): void {
    this.closed = true;
    this.stopPacing();
    for (let i = 0; i < this.options.book.subsetCount; i++) {
      for (const record of this.options.book.streamsOn(i)) this.streamEnded(record);
    }
  }

  private arm(delayMs: number): void {
    this.timer = this.options.clock.setTimeout(() => this.tick(), delayMs);
    unrefTimer(this.timer);
  }

  private stopPacing(): void {
    if (this.timer !== null) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    this.remaining = 0;
  }

  private tick(): void {
    this.timer = null;
    if (this.closed || this.remaining <= 0) return;
    const { next } = planRebalance(this.options.book, this.options.planInputs());
    if (next === null) {
      this.remaining = 0;
      return;
    }
    this.remaining--;
    const names = this.options.subsetNames;
    this.endStream(
      next.record,
      `traffic_split: stream rebalanced to follow new weights (${names[next.from]} -> ${names[next.to]})`,
    );
    if (this.remaining > 0) this.arm(this.paceMs);
  }

  private ageReached(record: StreamRecord, maxAgeMs: number): void {
    record.timer = null;
    if (this.closed || record.ended) return;
    if (!record.started || record.subset < 0) {
      // Between attempts (a retry waiting, a pick queued): look again shortly, so that the limit
      // still holds once the stream runs again.
      const timer = this.options.clock.setTimeout(() => this.ageReached(record, maxAgeMs), maxAgeMs * AGE_JITTER);
      unrefTimer(timer);
      record.timer = timer;
      return;
    }
    this.endStream(
      record,
      `traffic_split: stream reached maxStreamAgeMs (${maxAgeMs} ms) on ` +
        `subset ${this.options.subsetNames[record.subset]}; open it again`,
    );
  }

  /** Ends `record` once; a stream already ended (or ending) is left alone. */
  private endStream(record: StreamRecord, details: string): void {
    if (record.ended || record.endedBySplit !== null || record.subset < 0) return;
    record.endedBySplit = details;
    this.lastEndAt = this.options.clock.now();
    record.end(details);
  }
}

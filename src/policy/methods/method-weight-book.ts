/**
 * The method-weight overrides of one split, shared by all its channels. Each override is a
 * weight set of its own with the split's guarantees: its own schedules (exact over the calls of
 * its methods, across every channel, with lag carried over a change, so the next call follows
 * it) and its own stream book (its streams start and sit at its shares, apart from the split's).
 * No gRPC here.
 * @module
 */
import { ScheduleBook } from '../../algorithms/schedule/schedule-book.js';
import { StreamBook } from '../../algorithms/streams/stream-book.js';
import { MethodLookup } from '../../algorithms/routing/method-lookup.js';
import type { RandomSource } from '../../algorithms/random.js';

/** One override: its key, its weights and what is drawn from them. */
export interface MethodOverride {
  readonly key: string;
  readonly schedules: ScheduleBook;
  readonly streams: StreamBook;
}

/** Methods under the split's weights that get schedules of their own; calls of further methods
 * share the split's. Method names come from the application's clients (a generic client can
 * send any), so this is bounded. */
export const MAX_OWN_SCHEDULES = 256;

export class MethodWeightBook {
  private overrides: readonly MethodOverride[] = [];
  private table: MethodLookup | null = null;
  /** Per method without an override: schedules under the split's weights, so that each method's
   * calls are split exactly on their own (a method's calls taken from one shared schedule are a
   * subsequence of it, exact only on average). */
  private readonly own = new Map<string, ScheduleBook>();
  private splitWeights: readonly number[] | null = null;

  constructor(
    private readonly subsetCount: number,
    /** Seeds each new override's schedules and stream starts. */
    private readonly random: RandomSource,
    private readonly now: () => number,
    /** The split's stream book: new overrides' books tell its listener (the stream age limit). */
    private readonly splitStreams: StreamBook,
  ) {}

  /** The overrides in force, in key order (the order pickers index them by). */
  get list(): readonly MethodOverride[] {
    return this.overrides;
  }

  /** The lookup over `list`, null when there is no override. */
  get lookup(): MethodLookup | null {
    return this.table;
  }

  /** Key to weights in force. */
  weights(): Map<string, readonly number[]> {
    return new Map(this.overrides.map((o) => [o.key, o.schedules.weights]));
  }

  /**
   * Applies validated changes (null removes), or, with `replace`, makes `changes` the whole set.
   * An override kept keeps its schedules and streams: its lag carries into the new weights.
   * Returns whether anything changed.
   */
  apply(changes: ReadonlyMap<string, readonly number[] | null>, replace: boolean): boolean {
    const byKey = new Map(this.overrides.map((o) => [o.key, o]));
    let changed = false;
    if (replace) {
      for (const key of [...byKey.keys()]) {
        if (!changes.has(key) || changes.get(key) === null) {
          byKey.delete(key);
          changed = true;
        }
      }
    }
    for (const [key, weights] of changes) {
      const existing = byKey.get(key);
      if (weights === null) {
        if (existing !== undefined) changed = byKey.delete(key);
      } else if (existing !== undefined) {
        if (existing.schedules.apply(weights) !== null) changed = true;
      } else {
        byKey.set(key, this.newOverride(key, weights));
        changed = true;
      }
    }
    if (!changed) return false;
    this.overrides = Object.freeze([...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
    this.table = this.overrides.length === 0 ? null : new MethodLookup(this.overrides.map((o) => o.key));
    return true;
  }

  /** The schedules of `method` under the split's weights `weights`, made on its first call;
   * null past MAX_OWN_SCHEDULES methods (their calls share the split's schedules). */
  ownSchedules(method: string, weights: readonly number[]): ScheduleBook | null {
    let book = this.own.get(method);
    if (book === undefined) {
      if (this.own.size >= MAX_OWN_SCHEDULES) return null;
      book = new ScheduleBook(weights, Math.floor(this.random() * 0x1_0000_0000));
      this.own.set(method, book);
      this.splitWeights = weights;
    }
    return book;
  }

  /** The split's weights changed: every method's own schedules follow, carrying their lag. */
  followSplitWeights(weights: readonly number[]): void {
    if (this.splitWeights === weights) return;
    this.splitWeights = weights;
    for (const book of this.own.values()) book.apply(weights);
  }

  /** Streams open on `subset` under every override. */
  openStreamsOn(subset: number): number {
    let open = 0;
    for (const override of this.overrides) open += override.streams.openOn(subset);
    return open;
  }

  private newOverride(key: string, weights: readonly number[]): MethodOverride {
    const seed = Math.floor(this.random() * 0x1_0000_0000);
    const streams = new StreamBook(this.subsetCount, this.random, this.now);
    streams.listener = this.splitStreams.listener;
    return { key, schedules: new ScheduleBook(weights, seed), streams };
  }
}

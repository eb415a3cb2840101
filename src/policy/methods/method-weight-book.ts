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
import { MAX_METHOD_KEY_LENGTH, METHOD_NAME, MethodLookup } from '../../algorithms/routing/method-lookup.js';
import type { RandomSource } from '../../algorithms/random.js';

/** One override: its key, its weights and what is drawn from them. */
export interface MethodOverride {
  readonly key: string;
  readonly schedules: ScheduleBook;
  readonly streams: StreamBook;
}

/** Methods that get schedules of their own; calls of further methods share their weight set's.
 * Method names come from the application's clients (a generic client can send any), so this is
 * bounded. */
export const MAX_OWN_SCHEDULES = 256;

export class MethodWeightBook {
  private overrides: readonly MethodOverride[] = [];
  private table: MethodLookup | null = null;
  /** Per method: schedules under the weights that apply to it (its override's, else the split's),
   * so that each method's calls are split exactly on their own (a method's calls taken from one
   * shared schedule are a subsequence of it, exact only on average). One book per method, whose
   * weights follow the method's through every change, so its lag carries across an override
   * added or removed as across any change. */
  private readonly own = new Map<string, ScheduleBook>();

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
    // The streams of an override gone stay open: the split's book counts them from now on.
    for (const override of this.overrides)
      if (byKey.get(override.key) !== override) this.splitStreams.adopt(override.streams);
    this.overrides = Object.freeze([...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
    this.table = this.overrides.length === 0 ? null : new MethodLookup(this.overrides.map((o) => o.key));
    return true;
  }

  /** The schedules of `method`, brought to `weights` (the weights that apply to it now), made on
   * its first call; null past MAX_OWN_SCHEDULES methods, and for a name that is not a full
   * method name of at most MAX_METHOD_KEY_LENGTH characters (none is kept for it). */
  ownSchedules(method: string, weights: readonly number[]): ScheduleBook | null {
    let book = this.own.get(method);
    if (book !== undefined) {
      book.apply(weights);
      return book;
    }
    if (this.own.size >= MAX_OWN_SCHEDULES || method.length > MAX_METHOD_KEY_LENGTH || !METHOD_NAME.test(method))
      return null;
    book = new ScheduleBook(weights, Math.floor(this.random() * 0x1_0000_0000));
    this.own.set(method, book);
    return book;
  }

  /** How many overrides `apply(changes, replace)` would leave in force. */
  sizeAfter(changes: ReadonlyMap<string, readonly number[] | null>, replace: boolean): number {
    const keys = new Set(replace ? [] : this.overrides.map((o) => o.key));
    for (const [key, weights] of changes) {
      if (weights === null) keys.delete(key);
      else keys.add(key);
    }
    return keys.size;
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

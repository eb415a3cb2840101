/**
 * The live state one split shares with every channel built from it, as a set of parts with one
 * job each: the weights and schedules (`schedules`), the call counters (`counters`), the open
 * streams (`streams`), the channels' view of each subset (`channels`), and here the few things that tie them together:
 * telling every channel when what its picker depends on changes, the routing token, closing.
 * A channel configured by plain service-config JSON gets a private instance of its own.
 *
 * The path of a weight change: `setWeights()` validates, `schedules.apply()` swaps the weights
 * in, `notifyChange()` calls every channel's policy, which builds its next picker from
 * `schedules.scheduleFor()`; the next pick of every channel follows the new weights.
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../../base/clock.js';
import { ScheduleBook } from '../../algorithms/schedule/schedule-book.js';
import type { WeightedSchedule } from '../../algorithms/schedule/scheduler.js';
import { ChannelRegistry } from './channel-registry.js';
import { validateWeights } from './config.js';
import { SubsetCounters } from '../call/counters.js';
import { SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX } from '../grpc/grpc.js';
import { randomSeed, seededRandom, type RandomSource } from '../../algorithms/random.js';
import { StreamBook, type StreamRecord } from '../../algorithms/streams/stream-book.js';
import { MethodWeightBook } from '../methods/method-weight-book.js';

/**
 * The resolver attribute (merged by grpc-js into the options the policy receives) that carries a
 * split's live state to the policies of its channels. The prefix keeps it out of subchannel
 * arguments, so it never splits the subchannel pool.
 */
export const STATE_ATTRIBUTE = `${SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.traffic_split.state`;

export type SplitStateEvent =
  | { type: 'weights'; weights: readonly number[]; previous: readonly number[] }
  | { type: 'subsetState'; subset: number }
  | {
      type: 'methodWeights';
      methods: ReadonlyMap<string, readonly number[]>;
      previous: ReadonlyMap<string, readonly number[]>;
    };

export class SplitState {
  readonly counters: SubsetCounters;
  readonly schedules: ScheduleBook;
  /** The open streams of every channel of the split. */
  readonly streams: StreamBook;
  /** The per-method weight overrides, with their own schedules and streams. */
  readonly methods: MethodWeightBook;
  /** Tie order of the stream placement and jitter of the stream age limit. */
  readonly streamRandom: RandomSource;
  readonly channels = new ChannelRegistry();
  /** Identifies the split's call contexts: another split's route never passes for one. */
  readonly token = randomBytes(12).toString('base64url');
  /** Channels to tell when what their pickers depend on changes: weights, routes, closing. */
  private readonly changeListeners = new Set<() => void>();
  private closedFlag = false;
  private routeRequested = false;

  constructor(
    readonly name: string,
    readonly subsetNames: readonly string[],
    weights: readonly number[],
    private readonly onEvent: (event: SplitStateEvent) => void = () => {},
    scheduleSeed: number = randomSeed(),
    /** Time of the channels' periodic re-resolution and resolution hold-off. */
    readonly clock: Clock = realClock,
  ) {
    this.schedules = new ScheduleBook(weights, scheduleSeed);
    this.counters = new SubsetCounters(subsetNames.length);
    // A source of its own, so the schedules' phases stay what the seed gave them before.
    this.streamRandom = seededRandom(scheduleSeed + 1);
    this.streams = new StreamBook(subsetNames.length, this.streamRandom, () => clock.now());
    const methodRandom = seededRandom(scheduleSeed + 2);
    this.methods = new MethodWeightBook(subsetNames.length, methodRandom, () => clock.now(), this.streams);
  }

  /** The weights in force, indexed by subset. */
  get weights(): readonly number[] {
    return this.schedules.weights;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Validates `raw` completely, then swaps it in and tells every channel, synchronously, so the
   * next pick of every channel uses it. A rejected value throws before anything changes.
   */
  setWeights(raw: unknown): void {
    this.applyWeights(validateWeights(this.subsetNames, raw));
  }

  /** Swaps in already validated weights. Equal weights change nothing. */
  applyWeights(weights: readonly number[]): void {
    const previous = this.schedules.apply(weights);
    if (previous === null) return;
    this.notifyChange();
    this.onEvent({ type: 'weights', weights: this.schedules.weights, previous });
  }

  /**
   * Applies validated method-weight changes (null removes an override; with `replace`, the
   * changes are the whole set) and tells every channel, as `applyWeights` does.
   */
  applyMethodWeights(changes: ReadonlyMap<string, readonly number[] | null>, replace: boolean): void {
    const previous = this.methods.weights();
    if (!this.methods.apply(changes, replace)) return;
    this.notifyChange();
    this.onEvent({ type: 'methodWeights', methods: this.methods.weights(), previous });
  }

  /** Streams open on `subset`: under the split's weights and under every method override. */
  openStreamsOn(subset: number): number {
    return this.streams.openOn(subset) + this.methods.openStreamsOn(subset);
  }

  /** The streams `openStreamsOn(subset)` counts. */
  *streamsOn(subset: number): Iterable<StreamRecord> {
    yield* this.streams.streamsOn(subset);
    for (const override of this.methods.list) yield* override.streams.streamsOn(subset);
  }

  /** The schedule shared by every channel whose eligible subsets are `eligible`: see ScheduleBook. */
  scheduleFor(eligible: readonly number[], equalShares: boolean): WeightedSchedule {
    return this.schedules.scheduleFor(eligible, equalShares);
  }

  /** True once `route()` has been used: pickers then take the routed path. */
  get routesInUse(): boolean {
    return this.routeRequested;
  }

  /** Makes every channel take the routed path from now on (until then, keyless calls skip
   * the routes, rules and keys). */
  armRoutes(): void {
    if (this.routeRequested) return;
    this.routeRequested = true;
    this.notifyChange();
  }

  /** Calls `listener` after every change of the weights, of `routesInUse` and on close;
   * returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** A copy, since a listener may unsubscribe while being called. */
  private notifyChange(): void {
    for (const listener of [...this.changeListeners]) listener();
  }

  /** Called by a channel when one of its subsets changes state. */
  subsetStateChanged(subset: number): void {
    this.onEvent({ type: 'subsetState', subset });
  }

  /** Marks the state closed and tells every channel, which then fails its calls. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.notifyChange();
  }
}

/**
 * The live state one split shares with every channel built from it: the weights in force, the
 * schedules the pickers draw from, the call counters, and the channels' view of each subset.
 * A channel configured by plain service-config JSON gets a private instance of its own.
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from './clock.js';
import { validateWeights } from './config.js';
import { SubsetCounters } from './counters.js';
import { ConnectivityState, SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX } from './grpc.js';
import { randomSeed, seededRandom, type RandomSource } from './random.js';
import { WeightedSchedule } from './scheduler.js';
import { StreamBook } from './stream-book.js';

/**
 * The resolver attribute (merged by grpc-js into the options the policy receives) that carries a
 * split's live state to the policies of its channels. The prefix keeps it out of subchannel
 * arguments, so it never splits the subchannel pool.
 */
export const STATE_ATTRIBUTE = `${SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.traffic_split.state`;

/** What the split needs to know of one channel's policy. */
export interface ChannelView {
  subsetState(subset: number): ConnectivityState;
  subsetEndpointCount(subset: number): number;
}

/** Readiness order for "the least ready state across channels". */
const READINESS: Record<ConnectivityState, number> = {
  [ConnectivityState.READY]: 4,
  [ConnectivityState.CONNECTING]: 3,
  [ConnectivityState.IDLE]: 2,
  [ConnectivityState.TRANSIENT_FAILURE]: 1,
  [ConnectivityState.SHUTDOWN]: 0,
};

/** Bounds the schedule cache: one entry per distinct set of READY subsets seen, which is small
 * unless subsets flap in many combinations. */
const MAX_CACHED_SCHEDULES = 256;

/** One schedule per set of eligible subsets, and the weights version it was last given. */
interface CachedSchedule {
  readonly schedule: WeightedSchedule;
  readonly members: readonly number[];
  readonly equalShares: boolean;
  version: number;
}

export type SplitStateEvent =
  | { type: 'weights'; weights: readonly number[]; previous: readonly number[] }
  | { type: 'subsetState'; subset: number };

export class SplitState {
  readonly counters: SubsetCounters;
  /** The open streams of every channel of the split. */
  readonly streams: StreamBook;
  /** Tie order of the stream placement and jitter of the stream age limit. */
  readonly streamRandom: RandomSource;
  private currentWeights: readonly number[];
  private schedules = new Map<string, CachedSchedule>();
  /** Bumped at every weight change; a schedule older than this gets the weights at its next use. */
  private weightsVersion = 0;
  /** Seeds each new schedule, so each starts at its own phase (reproducible with a seed). */
  private readonly phases: RandomSource;
  private readonly channels = new Set<ChannelView>();
  /** Channels to tell when what their pickers depend on changes: weights, routes, closing. */
  private readonly changeListeners = new Set<() => void>();
  private closedFlag = false;
  /** Identifies the split's routing hints: another split's hint never passes for one. */
  readonly token = randomBytes(12).toString('base64url');
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
    this.currentWeights = Object.freeze([...weights]);
    this.phases = seededRandom(scheduleSeed);
    this.counters = new SubsetCounters(subsetNames.length);
    // A source of its own, so the schedules' phases stay what the seed gave them before.
    this.streamRandom = seededRandom(scheduleSeed + 1);
    this.streams = new StreamBook(subsetNames.length, this.streamRandom, () => clock.now());
  }

  get weights(): readonly number[] {
    return this.currentWeights;
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
    const previous = this.currentWeights;
    if (weights.length === previous.length && weights.every((w, i) => w === previous[i])) return;
    this.currentWeights = Object.freeze([...weights]);
    // The schedules stay: each carries its lag (under one call) into the new weights, so the
    // split stays exact across changes, however frequent, and the next call already follows
    // the new weights. Each gets them at its next use (see scheduleFor).
    this.weightsVersion++;
    this.notifyChange();
    this.onEvent({ type: 'weights', weights: this.currentWeights, previous });
  }

  /**
   * The schedule shared by every channel whose eligible subsets are `eligible`. Sharing it is
   * what makes the split exact across channels rather than per channel. With `equalShares`, the
   * subsets are served evenly (the weight-0 fallback).
   *
   * One schedule per set, kept while the set is not in use: when a subset leaves READY and comes
   * back, its set's schedule resumes with the lag it had, so the calls in between (which went to
   * the other subsets at their full share) leave every subset's lag where it was.
   */
  scheduleFor(eligible: readonly number[], equalShares: boolean): WeightedSchedule {
    const key = (equalShares ? 'e:' : 'w:') + eligible.join(',');
    let cached = this.schedules.get(key);
    if (cached === undefined) {
      const schedule = new WeightedSchedule(this.weightsOf(eligible, equalShares), { random: seededRandom(this.nextSeed()) });
      if (this.schedules.size >= MAX_CACHED_SCHEDULES) this.schedules.clear();
      cached = { schedule, members: [...eligible], equalShares, version: this.weightsVersion };
      this.schedules.set(key, cached);
    } else if (cached.version !== this.weightsVersion) {
      // Only this set's members have a weight here, all of them positive (else the set would
      // be another), so the change carries every lag as is.
      cached.schedule.setWeights(this.weightsOf(cached.members, cached.equalShares));
      cached.version = this.weightsVersion;
    }
    return cached.schedule;
  }

  /** The weights in force restricted to `members` (1 each with `equalShares`), indexed by subset. */
  private weightsOf(members: readonly number[], equalShares: boolean): Float64Array {
    const weights = new Float64Array(this.subsetNames.length);
    for (const i of members) weights[i] = equalShares ? 1 : this.currentWeights[i]!;
    return weights;
  }

  /** 53 bits from the split's phase source. */
  private nextSeed(): number {
    return Math.floor(this.phases() * 0x20_0000) * 0x1_0000_0000 + Math.floor(this.phases() * 0x1_0000_0000);
  }

  /** True once `route()` has been used: pickers then look for routing hints. */
  get routesInUse(): boolean {
    return this.routeRequested;
  }

  /** Makes every channel look for routing hints from now on (until then, keyless calls skip
   * all metadata work). */
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

  addChannel(channel: ChannelView): void {
    this.channels.add(channel);
  }

  removeChannel(channel: ChannelView): void {
    this.channels.delete(channel);
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Called by a channel when one of its subsets changes state. */
  subsetStateChanged(subset: number): void {
    this.onEvent({ type: 'subsetState', subset });
  }

  /** The least ready state of `subset` across channels (READY only when READY everywhere). */
  subsetState(subset: number): ConnectivityState {
    let worst: ConnectivityState | null = null;
    for (const channel of this.channels) {
      const state = channel.subsetState(subset);
      if (worst === null || READINESS[state] < READINESS[worst]) worst = state;
    }
    return worst ?? ConnectivityState.IDLE;
  }

  /** How many channels see `subset` in each state. */
  subsetStateCounts(subset: number): Partial<Record<keyof typeof ConnectivityState, number>> {
    const counts: Partial<Record<keyof typeof ConnectivityState, number>> = {};
    for (const channel of this.channels) {
      const name = ConnectivityState[channel.subsetState(subset)] as keyof typeof ConnectivityState;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }

  /** Resolved endpoints of `subset` (the largest count any channel has). */
  subsetEndpointCount(subset: number): number {
    let most = 0;
    for (const channel of this.channels) most = Math.max(most, channel.subsetEndpointCount(subset));
    return most;
  }

  /** Marks the state closed and tells every channel, which then fails its calls. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.notifyChange();
  }
}

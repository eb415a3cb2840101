/**
 * The live state one split shares with every channel built from it: the weights in force, the
 * schedules the pickers draw from, the call counters, and the channels' view of each subset.
 * A channel configured by plain service-config JSON gets a private instance of its own.
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto';
import { validateWeights } from './config.js';
import { SubsetCounters } from './counters.js';
import { ConnectivityState, SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX } from './grpc.js';
import { WeightedSchedule } from './scheduler.js';

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

/** Bounds the schedule cache: one entry per distinct set of READY subsets seen since the last
 * weight change, which is small unless subsets flap in many combinations. */
const MAX_CACHED_SCHEDULES = 256;

export type SplitStateEvent =
  | { type: 'weights'; weights: readonly number[]; previous: readonly number[] }
  | { type: 'subsetState'; subset: number };

export class SplitState {
  readonly counters: SubsetCounters;
  private currentWeights: readonly number[];
  private schedules = new Map<string, WeightedSchedule>();
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
  ) {
    this.currentWeights = Object.freeze([...weights]);
    this.counters = new SubsetCounters(subsetNames.length);
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

  /** Swaps in already validated weights. Equal weights change nothing, not even the rotation. */
  applyWeights(weights: readonly number[]): void {
    const previous = this.currentWeights;
    if (weights.length === previous.length && weights.every((w, i) => w === previous[i])) return;
    this.currentWeights = Object.freeze([...weights]);
    // A new schedule per READY set: the rotation restarts at the change, which is what makes the
    // first calls after it follow the new weights exactly (90/10 -> 10/90: 9 of the next 10 go
    // to v2), with no credit carried over from the old weights to cause a burst.
    this.schedules = new Map();
    this.notifyChange();
    this.onEvent({ type: 'weights', weights: this.currentWeights, previous });
  }

  /**
   * The schedule shared by every channel whose eligible subsets are `eligible`. Sharing it is
   * what makes the split exact across channels rather than per channel. With `equalShares`, the
   * subsets are served evenly (the weight-0 fallback).
   */
  scheduleFor(eligible: readonly number[], equalShares: boolean): WeightedSchedule {
    const key = (equalShares ? 'e:' : 'w:') + eligible.join(',');
    let schedule = this.schedules.get(key);
    if (schedule === undefined) {
      const weights = new Float64Array(this.subsetNames.length);
      for (const i of eligible) weights[i] = equalShares ? 1 : this.currentWeights[i]!;
      schedule = new WeightedSchedule(weights);
      if (this.schedules.size >= MAX_CACHED_SCHEDULES) this.schedules.clear();
      this.schedules.set(key, schedule);
    }
    return schedule;
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

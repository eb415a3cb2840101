/**
 * A channel's state and picker, computed from all its subsets and the weights in force:
 * READY when a weighted subset is READY, CONNECTING while one is connecting and none is READY,
 * TRANSIENT_FAILURE when every weighted subset has failed. Pure: no grpc-js callbacks here, and
 * nothing of the split but what `SplitView` names.
 * @internal
 * @module
 */
import { POLICY_NAME } from '../../base/constants.js';
import { ConnectivityState, type Picker } from '../grpc/grpc.js';
import {
  closedResult,
  QUEUE_RESULT,
  TrafficSplitPicker,
  unavailableResult,
  type FixedPickResult,
  type MethodPlans,
  type RoutingTable,
  type WeightPlan,
} from './picker.js';
import type { MethodLookup } from '../../algorithms/routing/method-lookup.js';
import type { WeightedSchedule } from '../../algorithms/schedule/scheduler.js';
import type { SubsetCounters } from '../call/counters.js';
import type { StreamBook } from '../../algorithms/streams/stream-book.js';
import type { MissingInterceptorWarning } from '../call/misuse.js';

/** What the aggregation needs of one subset's child policy. */
export interface SubsetView {
  readonly name: string;
  readonly state: ConnectivityState;
  readonly picker: Picker;
  readonly lastError: string | null;
  /** Not READY, but within its connect grace: keeps its share, its calls wait for it. */
  readonly inGrace: boolean;
}

/** Where a weight set's schedules come from (a ScheduleBook). */
export interface ScheduleSource {
  scheduleFor(eligible: readonly number[], equalShares: boolean): WeightedSchedule;
}

/** One method-weight override as the aggregation reads it (method-weight-book.ts). */
export interface OverrideView {
  readonly schedules: ScheduleSource & { readonly weights: readonly number[] };
  readonly streams: StreamBook;
}

/** What the aggregation reads of the split: the weights in force and the schedules drawn from
 * them, the open streams, the counters its picker feeds, the method overrides, and whether it
 * is closed. */
export interface SplitView {
  readonly name: string;
  readonly closed: boolean;
  readonly weights: readonly number[];
  readonly counters: SubsetCounters;
  /** The split's open streams, where streaming calls are placed. */
  readonly streams: StreamBook;
  scheduleFor(eligible: readonly number[], equalShares: boolean): WeightedSchedule;
  /** Per-method weights (absent: none). */
  readonly methods?: {
    readonly list: readonly OverrideView[];
    readonly lookup: MethodLookup | null;
    ownSchedules(method: string, weights: readonly number[]): ScheduleSource | null;
  };
}

export interface Aggregate {
  readonly state: ConnectivityState;
  readonly picker: Picker;
  readonly errorMessage: string | null;
}

/** The channel's state and picker. The classification of subsets and the choice of schedule
 * and fallback are one decision table (planFor), read top to bottom, applied to the split's
 * weights and to each method override's. `missingInterceptor` is the channel's own (see
 * misuse.ts), null on a channel configured by JSON alone. */
export function aggregateState(
  subsets: readonly SubsetView[],
  split: SplitView,
  fallbackToZeroWeight: boolean,
  routing: RoutingTable | null,
  missingInterceptor: MissingInterceptorWarning | null = null,
): Aggregate {
  if (split.closed) return closedAggregate(split);
  const weightsNow = split.weights;
  const main = planFor(subsets, weightsNow, split, split.streams, fallbackToZeroWeight);
  const methods = split.methods;
  const methodPlans: MethodPlans | null =
    methods === undefined
      ? null
      : {
          lookup: methods.lookup,
          plans: methods.list.map(
            (o) => planFor(subsets, o.schedules.weights, o.schedules, o.streams, fallbackToZeroWeight).plan,
          ),
          ownSchedules: (method, weights) => methods.ownSchedules(method, weights),
        };
  const picker = new TrafficSplitPicker({
    ...main.plan,
    childPickers: subsets.map((subset) => subset.picker),
    notReady: subsets.map(notReadyResult),
    counters: split.counters,
    routing,
    methodPlans,
    missingInterceptor,
  });
  const state = main.state;
  return {
    state,
    picker,
    errorMessage: state === ConnectivityState.TRANSIENT_FAILURE ? main.plan.fallback.status!.details : null,
  };
}

/** The schedule, candidates and fallback of one weight set (the split's or an override's), and
 * the channel state it implies. */
function planFor(
  subsets: readonly SubsetView[],
  weights: readonly number[],
  schedules: ScheduleSource,
  book: StreamBook,
  fallbackToZeroWeight: boolean,
): { plan: WeightPlan; state: ConnectivityState } {
  const readyWeighted: number[] = [];
  // READY weighted subsets and those still in their connect grace: their calls wait for them.
  const keepingShare: number[] = [];
  const readyUnweighted: number[] = [];
  let connecting = false;
  subsets.forEach((subset, i) => {
    const ready = subset.state === ConnectivityState.READY;
    if (weights[i]! > 0) {
      if (ready) readyWeighted.push(i);
      else if (subset.state === ConnectivityState.CONNECTING || subset.state === ConnectivityState.IDLE)
        connecting = true;
      if (ready || subset.inGrace) keepingShare.push(i);
    } else if (ready) {
      readyUnweighted.push(i);
    }
  });
  let schedule: WeightedSchedule | null = null;
  let streamEligible: number[] = [];
  let equalShares = false;
  let fallback: FixedPickResult = QUEUE_RESULT;
  let state: ConnectivityState = ConnectivityState.READY;
  // Until one weighted subset is READY every call queues at the fallback, drawing nothing from
  // the schedule; from then on the subsets in grace take their share as queued calls.
  if (readyWeighted.length > 0) {
    schedule = schedules.scheduleFor(keepingShare, false);
    streamEligible = keepingShare;
  } else if (fallbackToZeroWeight && readyUnweighted.length > 0) {
    schedule = schedules.scheduleFor(readyUnweighted, true);
    streamEligible = readyUnweighted;
    equalShares = true;
  } else if (connecting) {
    state = ConnectivityState.CONNECTING;
  } else {
    state = ConnectivityState.TRANSIENT_FAILURE;
    fallback = unavailableResult(describeNoReadySubset(subsets, weights));
  }
  const plan: WeightPlan = {
    schedule,
    keepsShare: shareFlags(subsets.length, schedule === null ? [] : streamEligible),
    stickyCandidates: Int32Array.from(schedule === null || equalShares ? readyWeighted : keepingShare),
    retryCandidates: Int32Array.from(readyWeighted),
    weights,
    fallback,
    streams: { book, eligible: Int32Array.from(streamEligible), equalShares },
    scheduleFor: (eligible) => schedules.scheduleFor(eligible, false),
  };
  return { plan, state };
}

/** A closed split: every call fails at once. */
function closedAggregate(split: SplitView): Aggregate {
  const result = closedResult(split.name);
  const picker = new TrafficSplitPicker({
    childPickers: [],
    notReady: [],
    schedule: null,
    keepsShare: new Uint8Array(0),
    stickyCandidates: new Int32Array(0),
    retryCandidates: new Int32Array(0),
    weights: split.weights,
    fallback: result,
    counters: split.counters,
    routing: null,
    streams: null,
    scheduleFor: (eligible) => split.scheduleFor(eligible, false),
    methodPlans: null,
  });
  return { state: ConnectivityState.TRANSIENT_FAILURE, picker, errorMessage: result.status!.details };
}

/** 1 for each subset of `members`, by subset index. */
function shareFlags(count: number, members: readonly number[]): Uint8Array {
  const flags = new Uint8Array(count);
  for (const i of members) flags[i] = 1;
  return flags;
}

/** What a call routed explicitly to `subset` gets while it is not READY. */
function notReadyResult(subset: SubsetView): FixedPickResult | null {
  switch (subset.state) {
    case ConnectivityState.READY:
      return null;
    case ConnectivityState.CONNECTING:
    case ConnectivityState.IDLE:
      return QUEUE_RESULT;
    default: {
      const error = subset.lastError === null ? '' : `; last error: ${subset.lastError}`;
      return unavailableResult(
        `${POLICY_NAME}: subset "${subset.name}" has no READY endpoints (${ConnectivityState[subset.state]})${error}`,
      );
    }
  }
}

/** `traffic_split: no weighted subset is READY; v1 (weight 90): TRANSIENT_FAILURE (...)`. */
function describeNoReadySubset(subsets: readonly SubsetView[], weights: readonly number[]): string {
  const parts = subsets.map((subset, i) => {
    const error = subset.lastError === null ? '' : ` (last error: ${subset.lastError})`;
    return `${subset.name} (weight ${weights[i]}): ${ConnectivityState[subset.state]}${error}`;
  });
  return `${POLICY_NAME}: no weighted subset is READY; ${parts.join('; ')}`;
}

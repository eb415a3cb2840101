/**
 * The per-call pick, in the order of the routing semantics: explicit route (the call context of
 * `split.route({ subset })`), header rule, sticky key, weighted schedule. The chosen subset's
 * child picker chooses the endpoint. A later attempt of a call (a retry or hedge) is placed by
 * what the call tried (call-attempts.ts). Never throws; failures are pick results.
 * @internal
 * @module
 */
import {
  Metadata,
  metadataValues,
  PickResultType,
  Status,
  type PickArgs,
  type PickResult,
  type Picker,
} from '../grpc/grpc.js';
import { CALL_SLOT, RESERVED_HEADER, type CallContext } from '../call/call-context.js';
import type { SubsetCounters } from '../call/counters.js';
import { isLaterAttempt, pickUntriedEndpoint, triedAnySubset, triedSubset } from '../call/call-attempts.js';
import { lacksInterceptor, type MissingInterceptorWarning } from '../call/misuse.js';
import type { RouteRule } from '../../algorithms/routing/rules.js';
import type { WeightedSchedule } from '../../algorithms/schedule/scheduler.js';
import { rendezvousPick } from '../../algorithms/routing/sticky-hash.js';
import { StreamPin, type StreamBook, type StreamRecord } from '../../algorithms/streams/stream-book.js';
import { pickForStream } from './stream-pick.js';
import type { MethodLookup } from '../../algorithms/routing/method-lookup.js';

/** A pick result the picker returns as is for every call: queue, or fail with UNAVAILABLE. */
export type FixedPickResult = PickResult & { subchannel: null; onCallStarted: null; onCallEnded: null };

export const QUEUE_RESULT: FixedPickResult = Object.freeze({
  pickResultType: PickResultType.QUEUE,
  subchannel: null,
  status: null,
  onCallStarted: null,
  onCallEnded: null,
});

function failure(type: PickResult['pickResultType'], details: string): FixedPickResult {
  return Object.freeze({
    pickResultType: type,
    subchannel: null,
    status: { code: Status.UNAVAILABLE, details, metadata: new Metadata() },
    onCallStarted: null,
    onCallEnded: null,
  });
}

/** An UNAVAILABLE failure; under wait-for-ready grpc-js queues the call instead. */
export function unavailableResult(details: string): FixedPickResult {
  return failure(PickResultType.TRANSIENT_FAILURE, details);
}

/** Calls of a closed split fail at once, wait-for-ready or not: the split will not come back. */
export function closedResult(splitName: string): FixedPickResult {
  return failure(PickResultType.DROP, `traffic_split: split "${splitName}" is closed`);
}

/** The per-call routing inputs that do not change with connectivity. */
export interface RoutingTable {
  /** The split's token: a call context that lacks it is another split's (call-context.ts). */
  readonly token: string;
  readonly splitName: string;
  readonly subsetNames: readonly string[];
  readonly rules: readonly RouteRule[];
  readonly stickyKey: string | null;
  readonly seeds: Uint32Array;
}

/** What one weight set (the split's, or a method override's) gives the picker on this channel. */
export interface WeightPlan {
  /** The shared schedule over the subsets keyless calls may use now, or null. */
  readonly schedule: WeightedSchedule | null;
  /** 1 for each subset in `schedule`: READY, or connecting within its grace (its calls queue). */
  readonly keepsShare: Uint8Array;
  /** Subsets a sticky key may map to now (weighted, READY or in grace), and the weights in force. */
  readonly stickyCandidates: Int32Array;
  /** Subsets a retry on another subset may use: weighted and READY. */
  readonly retryCandidates: Int32Array;
  readonly weights: readonly number[];
  /** What a call gets when no subset can take it. */
  readonly fallback: FixedPickResult;
  /** Where keyless streams go (by the start schedule and the open streams, not by the call
   * schedule); null for a closed split. */
  readonly streams: StreamPlacement | null;
  /** The shared schedule over `eligible` (a retry that avoids one subset draws from it). */
  readonly scheduleFor: (eligible: readonly number[]) => WeightedSchedule;
}

/** The method overrides' plans, by override index, and which override a method takes. */
export interface MethodPlans {
  /** Null when the split has no override. */
  readonly lookup: MethodLookup | null;
  readonly plans: readonly WeightPlan[];
  /** A method's own schedules under `weights` (those that apply to it), null past the bound
   * (method-weight-book.ts). */
  readonly ownSchedules: (
    method: string,
    weights: readonly number[],
  ) => {
    scheduleFor(eligible: readonly number[], equalShares: boolean): WeightedSchedule;
  } | null;
}

/** Plans a picker remembers for methods, at most. */
const MAX_OWN_PLANS = 256;

export interface PickerParts extends WeightPlan {
  /** The current picker of every subset, by subset index. */
  readonly childPickers: readonly Picker[];
  /** Per subset: null when READY, else what a call routed to it gets (queue, or a failure
   * naming it). */
  readonly notReady: readonly (FixedPickResult | null)[];
  readonly counters: SubsetCounters;
  /** Null when nothing can route a call explicitly: the keyless fast path. Never null while
   * `methodPlans` is set. */
  readonly routing: RoutingTable | null;
  /** Per-method weights, or null when the split has none. */
  readonly methodPlans?: MethodPlans | null;
  /** The channel's warning for calls made without the split's interceptor; absent on a channel
   * configured by JSON alone, which has no interceptor to miss. */
  readonly missingInterceptor?: MissingInterceptorWarning | null;
}

/** The split's stream book over the subsets keyless calls may use now (`equalShares`: the
 * weight-0 fallback, served evenly). */
export interface StreamPlacement {
  readonly book: StreamBook;
  readonly eligible: Int32Array;
  readonly equalShares: boolean;
}

export class TrafficSplitPicker implements Picker {
  /** Per method: the plan of its weight set on the method's own schedules. */
  private readonly ownPlans = new Map<string, WeightPlan>();
  /** The same plans by the method's slot in the per-method figures, where it has one. */
  private readonly plansBySlot: (WeightPlan | undefined)[] = [];

  private readonly parts: PickerParts;

  constructor(parts: PickerParts) {
    this.parts = uniformParts(parts);
  }

  pick(args: PickArgs): PickResult {
    const { parts } = this;
    const metadata = args.metadata;
    const context = (metadata.getOptions() as { [CALL_SLOT]?: CallContext })[CALL_SLOT];
    if (context === undefined || !context.intercepted) {
      // The reserved header never reaches a server, whatever it holds: the split's interceptor
      // removed it from the calls it saw (call-pipeline.ts), the picker removes it from the rest.
      if (metadataValues(metadata, RESERVED_HEADER) !== undefined) metadata.remove(RESERVED_HEADER);
      if (parts.missingInterceptor != null) parts.missingInterceptor.note();
    }
    if (parts.routing !== null) return this.pickRouted(args, parts.routing, context);
    // A closed split (or one with no subset to offer) answers every call alike.
    if (parts.schedule === null) return parts.fallback;
    if (context === undefined) return this.pickSubset(parts.schedule!.next(), args, undefined);
    // Otherwise, without a routing table the split made no route: this one is another split's.
    if (context.routed) return foreignRoute(context);
    const stream = parts.streams === null ? null : context.stream;
    // Without routes armed, retryOnOtherSubset is off: a later attempt stays in the call's subset.
    const subset = isLaterAttempt(context) && this.isReady(context.callSubset) ? context.callSubset : -1;
    if (stream !== null) {
      const placed = subset >= 0 ? subset : this.placeStream(stream, parts);
      return placed < 0 ? parts.fallback : this.pickStream(placed, args, stream, StreamPin.Keyless, context, parts);
    }
    return this.pickSubset(subset >= 0 ? subset : this.scheduled(context, this.planOf(context)), args, context);
  }

  private isReady(subset: number): boolean {
    return this.parts.notReady[subset] === null;
  }

  /**
   * The subset of a keyless unary call: the place it was given before, if that subset still
   * keeps its share; else the next of the schedule. A call holds one place in the schedule
   * until an attempt of it starts, however often it is picked: picked again while it waits for
   * a subset in grace, or once that subset is READY, and the attempts of a hedging policy made
   * before the first one started (a hedge of a waiting call waits with it). So the calls a
   * connecting subset was given reach it once it is READY, and none is drawn twice. (Streams
   * keep theirs in the stream book: see placeStream.)
   */
  private scheduled(record: CallContext | undefined, plan: WeightPlan): number {
    if (record === undefined) return plan.schedule!.next();
    if (record.waitingFor >= 0) {
      if (plan.keepsShare[record.waitingFor] === 1) return record.waitingFor;
      record.waitingFor = -1;
    }
    const subset = plan.schedule!.next();
    if (subset >= 0) record.waitingFor = subset;
    return subset;
  }

  /** A keyless stream's subset: the start schedule, held back from a subset at its share of
   * the open streams (see StreamStarts). */
  private placeStream(stream: StreamRecord, plan: WeightPlan): number {
    const streams = plan.streams!;
    return streams.book.choose(streams.eligible, plan.weights, streams.equalShares, stream);
  }

  private pickStream(
    subset: number,
    args: PickArgs,
    stream: StreamRecord,
    pin: StreamPin,
    record: CallContext | undefined,
    plan: WeightPlan,
  ): PickResult {
    return pickForStream(plan.streams!.book, stream, subset, pin, this.pickSubset(subset, args, record));
  }

  /** The weight set of the call's method: its override's, else the split's, drawn from the
   * method's own schedules. */
  private planOf(context: CallContext | undefined): WeightPlan {
    const methods = this.parts.methodPlans;
    if (methods == null || context === undefined || context.method === '') return this.parts;
    // The pipeline resolved the call's slot in the per-method figures once per call: an array
    // read here instead of a lookup by name at every pick.
    const figures = this.parts.counters.methods;
    const slot = figures !== null && context.methodTable === figures ? context.methodSlot : -1;
    if (slot >= 0) {
      const plan = this.plansBySlot[slot];
      if (plan !== undefined) return plan;
    }
    const method = context.method;
    const plan = this.ownPlans.get(method) ?? this.ownPlan(method, methods);
    // Only a slot named after this method (not `other`) stands for it alone.
    if (slot >= 0 && figures!.names.names[slot] === method && this.ownPlans.get(method) === plan)
      this.plansBySlot[slot] = plan;
    return plan;
  }

  /** The plan of the weight set that applies to `method` on the method's own schedules, which
   * follow that set (an override added, changed or removed included) with their lag carried. */
  private ownPlan(method: string, methods: MethodPlans): WeightPlan {
    const index = methods.lookup === null ? -1 : methods.lookup.indexOf(method);
    const base = index < 0 ? this.parts : methods.plans[index]!;
    const book = base.schedule === null ? null : methods.ownSchedules(method, base.weights);
    // Past the bound (or not a method name): the weight set's shared schedules, not remembered.
    if (book === null) return base;
    const placement = base.streams!;
    const plan: WeightPlan = {
      schedule: book.scheduleFor(Array.from(placement.eligible), placement.equalShares),
      keepsShare: base.keepsShare,
      stickyCandidates: base.stickyCandidates,
      retryCandidates: base.retryCandidates,
      weights: base.weights,
      fallback: base.fallback,
      streams: placement,
      scheduleFor: (eligible) => book.scheduleFor(eligible, false),
    };
    if (this.ownPlans.size < MAX_OWN_PLANS) this.ownPlans.set(method, plan);
    return plan;
  }

  private pickSubset(subset: number, args: PickArgs, record: CallContext | undefined): PickResult {
    const notReady = this.parts.notReady[subset];
    if (notReady !== null && notReady !== undefined) {
      // A call that ends while bound here is counted as not started on this subset.
      if (record !== undefined) record.queuedFor = subset;
      return notReady;
    }
    const child = this.parts.childPickers[subset]!;
    // A later attempt takes an endpoint the call has not tried, where the subset has one.
    const result =
      record !== undefined && isLaterAttempt(record) ? pickUntriedEndpoint(child, args, record) : child.pick(args);
    return result.pickResultType === PickResultType.COMPLETE
      ? this.parts.counters.attach(subset, result, record)
      : result;
  }

  /** Explicit route, rule, sticky key, then the schedule, honouring the split's retry. */
  private pickRouted(args: PickArgs, routing: RoutingTable, context: CallContext | undefined): PickResult {
    const metadata = args.metadata;
    // The route and retry marks of the call: another split's count for nothing here, its
    // record still does.
    let own = context;
    if (context !== undefined && context.token !== routing.token) {
      if (context.routed) return foreignRoute(context);
      own = undefined;
    }
    if (own !== undefined && own.retry && !own.intercepted) return missingInterceptor(routing.splitName);
    const stream = this.parts.streams === null || context === undefined ? null : context.stream;
    if (stream !== null) stream.key = undefined;
    const plan = this.planOf(context);
    let subset: number;
    let strict = true;
    if (own?.subset !== undefined) {
      subset = routing.subsetNames.indexOf(own.subset);
      if (subset < 0)
        return failure(
          PickResultType.DROP,
          `traffic_split: unknown subset "${own.subset}" (subsets: ${routing.subsetNames.join(', ')})`,
        );
    } else {
      subset = matchRule(metadata, context?.method ?? '', routing.rules);
      if (subset < 0) {
        strict = false;
        subset = this.pickUnrouted(metadata, routing, own, stream, context, plan);
        if (subset < 0) {
          if (own === undefined || own.avoid < 0) return plan.fallback;
          // A retry with nowhere else to go: the pipeline ends the call with its first failure.
          own.noOtherSubset = true;
          return NO_OTHER_SUBSET;
        }
      }
    }
    if (own !== undefined && own.retry) {
      own.pickedSubset = subset;
      own.pickedStrict = strict;
    }
    if (stream !== null)
      return this.pickStream(
        subset,
        args,
        stream,
        strict ? StreamPin.Pinned : stream.key !== undefined ? StreamPin.Keyed : StreamPin.Keyless,
        context,
        plan,
      );
    return this.pickSubset(subset, args, context);
  }

  /** Sticky key, else the schedule (a stream: the stream placement), for a call's first
   * attempt; a later attempt's subset otherwise. -1 when no subset can take the call. Notes a
   * stream's key on its record. */
  private pickUnrouted(
    metadata: Metadata,
    routing: RoutingTable,
    own: CallContext | undefined,
    stream: StreamRecord | null,
    record: CallContext | undefined,
    plan: WeightPlan,
  ): number {
    let key = own?.key;
    if (key === undefined && routing.stickyKey !== null) {
      const value = metadataValues(metadata, routing.stickyKey)?.[0];
      if (typeof value === 'string') key = value;
    }
    if (stream !== null && key !== undefined) stream.key = key;
    const retryOf = own?.avoid ?? -1;
    if (retryOf >= 0 || (record !== undefined && isLaterAttempt(record))) {
      const subset = this.laterSubset(routing, key, record, retryOf, own?.pickedSubset ?? -1, plan);
      if (subset !== NEW_PLACEMENT) return subset;
    }
    if (key !== undefined) return rendezvousPick(key, plan.stickyCandidates, plan.weights, routing.seeds);
    if (plan.schedule === null) return -1;
    return stream !== null ? this.placeStream(stream, plan) : this.scheduled(record, plan);
  }

  /**
   * The subset of a later attempt of a call routed by key or schedule. With retryOnOtherSubset, a
   * READY weighted subset the call has not tried (the key's next choice, else the schedule over
   * them); otherwise, or when there is none, the call's subset while it is READY, else
   * NEW_PLACEMENT. The split's own retry (`retryOf`: the subset it leaves) always looks
   * elsewhere; with nowhere else to go its first pick gets -1 (the call ends with its first
   * failure), and grpc-js's attempts of the retry stay where the retry went (`retryAt`).
   */
  private laterSubset(
    routing: RoutingTable,
    key: string | undefined,
    record: CallContext | undefined,
    retryOf: number,
    retryAt: number,
    plan: WeightPlan,
  ): number {
    if (retryOf >= 0 || (record!.otherSubset && triedAnySubset(record!))) {
      const candidates = plan.retryCandidates.filter(
        (i) => i !== retryOf && (record === undefined || !triedSubset(record, i)),
      );
      if (candidates.length > 0) {
        return key !== undefined
          ? rendezvousPick(key, candidates, plan.weights, routing.seeds)
          : plan.scheduleFor(Array.from(candidates)).next();
      }
    }
    const home = retryOf >= 0 ? retryAt : record!.callSubset;
    if (home >= 0 && this.isReady(home)) return home;
    return retryOf >= 0 ? -1 : NEW_PLACEMENT;
  }
}

/**
 * The parts of every picker in one object shape, made at one site with every field in one order.
 * Spread into literals, the parts of pickers of different splits and states took different hidden
 * classes, and each read of them on the pick path turned megamorphic once a process held a few
 * splits (the 2-subset pick twice as slow after the picker bench had run in the same process).
 */
function uniformParts(parts: PickerParts): PickerParts {
  return {
    schedule: parts.schedule,
    keepsShare: parts.keepsShare,
    stickyCandidates: parts.stickyCandidates,
    retryCandidates: parts.retryCandidates,
    weights: parts.weights,
    fallback: parts.fallback,
    streams: parts.streams,
    scheduleFor: parts.scheduleFor,
    childPickers: parts.childPickers,
    notReady: parts.notReady,
    counters: parts.counters,
    routing: parts.routing,
    methodPlans: parts.methodPlans ?? null,
    missingInterceptor: parts.missingInterceptor ?? null,
  };
}

/** laterSubset(): the call's subset is gone; the attempt is placed as a first attempt would be. */
const NEW_PLACEMENT = -2;

/** What a retry attempt gets when no other READY weighted subset exists. */
const NO_OTHER_SUBSET = failure(PickResultType.DROP, 'traffic_split: no other READY weighted subset to retry on');

/** Strict routing: a route this split cannot honour fails, loudly, rather than go anywhere. */
function foreignRoute(context: CallContext): PickResult {
  return failure(
    PickResultType.DROP,
    `traffic_split: route() call options of split "${context.splitName}" used on a channel of another split; ` +
      "they only work on clients built from their own split's target",
  );
}

/** The split retries unary calls, and its interceptor did not see this one. */
function missingInterceptor(splitName: string): PickResult {
  return failure(PickResultType.DROP, lacksInterceptor(splitName, 'has retryOnOtherSubset on'));
}

/** The subset of the first rule that holds for the call's headers and method ('' if unknown), or -1. */
function matchRule(metadata: Metadata, method: string, rules: readonly RouteRule[]): number {
  // Indexed: for-of over the frozen list costs more than the match itself.
  for (let i = 0; i < rules.length; i++) if (rules[i]!.test(metadata, method, metadataValues)) return rules[i]!.subset;
  return -1;
}

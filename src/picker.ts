/**
 * The per-call pick, in the order of the routing semantics: explicit route (a hint from
 * `split.route({ subset })`), header rule, sticky key, weighted schedule. The chosen subset's
 * child picker chooses the endpoint. Never throws; failures are pick results.
 * @internal
 * @module
 */
import { Metadata, metadataValues, PickResultType, Status, type PickArgs, type PickResult, type Picker } from './grpc.js';
import { takeHint } from './hints.js';
import type { AttemptRecord } from './interceptor.js';
import { callRecordOf, type SubsetCounters } from './counters.js';
import type { RouteRule } from './rules.js';
import type { WeightedSchedule } from './scheduler.js';
import { rendezvousPick } from './sticky-hash.js';

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
  /** The split's token: hints without it are ignored (see hints.ts). */
  readonly token: string;
  readonly subsetNames: readonly string[];
  readonly rules: readonly RouteRule[];
  readonly stickyKey: string | null;
  readonly seeds: Uint32Array;
  /** Attempts whose subset the interceptor wants to know (retry on another subset). */
  readonly attempts: ReadonlyMap<string, AttemptRecord>;
  /** The shared schedule over `eligible` (a retry that avoids one subset draws from it). */
  readonly scheduleFor: (eligible: readonly number[]) => WeightedSchedule;
}

export interface PickerParts {
  /** The current picker of every subset, by subset index. */
  readonly childPickers: readonly Picker[];
  /** Per subset: null when READY, else what a call routed to it gets (queue, or a failure
   * naming it). */
  readonly notReady: readonly (FixedPickResult | null)[];
  /** The shared schedule over the subsets keyless calls may use now, or null. */
  readonly schedule: WeightedSchedule | null;
  /** Subsets a sticky key may map to now (READY, weighted), and the weights in force. */
  readonly stickyCandidates: Int32Array;
  readonly weights: readonly number[];
  /** What a call gets when no subset can take it. */
  readonly fallback: FixedPickResult;
  readonly counters: SubsetCounters;
  /** Null when nothing can route a call explicitly: the keyless fast path. */
  readonly routing: RoutingTable | null;
}

export class TrafficSplitPicker implements Picker {
  constructor(private readonly parts: PickerParts) {}

  pick(args: PickArgs): PickResult {
    const { parts } = this;
    if (parts.routing !== null) return this.pickRouted(args, parts.routing);
    if (parts.schedule === null) return parts.fallback;
    return this.pickSubset(parts.schedule.next(), args);
  }

  private pickSubset(subset: number, args: PickArgs): PickResult {
    const notReady = this.parts.notReady[subset];
    if (notReady !== null && notReady !== undefined) {
      // A call that ends while bound here is counted as not started on this subset.
      const record = callRecordOf(args.metadata);
      if (record !== undefined) record.queuedFor = subset;
      return notReady;
    }
    const result = this.parts.childPickers[subset]!.pick(args);
    return result.pickResultType === PickResultType.COMPLETE ? this.parts.counters.attach(subset, result, callRecordOf(args.metadata)) : result;
  }

  /** Explicit route, rule, sticky key, then the schedule, honouring retry hints. */
  private pickRouted(args: PickArgs, routing: RoutingTable): PickResult {
    const metadata = args.metadata;
    const hint = takeHint(metadata, routing.token);
    let subset: number;
    let strict = true;
    if (hint?.subset !== undefined) {
      subset = routing.subsetNames.indexOf(hint.subset);
      if (subset < 0) return failure(PickResultType.DROP, `traffic_split: unknown subset "${hint.subset}" (subsets: ${routing.subsetNames.join(', ')})`);
    } else {
      subset = matchRule(metadata, routing.rules);
      if (subset < 0) {
        strict = false;
        subset = this.pickUnrouted(metadata, routing, hint?.key, hint?.avoid);
        if (subset < 0) return this.parts.fallback;
      }
    }
    if (hint?.attempt !== undefined) {
      const record = routing.attempts.get(hint.attempt);
      if (record !== undefined) {
        record.subset = subset;
        record.strict = strict;
      }
    }
    return this.pickSubset(subset, args);
  }

  /** Sticky key, else the schedule; -1 when no subset can take the call. */
  private pickUnrouted(metadata: Metadata, routing: RoutingTable, hintKey: string | undefined, avoidName: string | undefined): number {
    let key = hintKey;
    if (key === undefined && routing.stickyKey !== null) {
      const value = metadataValues(metadata, routing.stickyKey)?.[0];
      if (typeof value === 'string') key = value;
    }
    const avoid = avoidName === undefined ? -1 : routing.subsetNames.indexOf(avoidName);
    const candidates = avoid < 0 ? this.parts.stickyCandidates : this.parts.stickyCandidates.filter((i) => i !== avoid);
    if (key !== undefined) return rendezvousPick(key, candidates, this.parts.weights, routing.seeds);
    const schedule = avoid < 0 ? this.parts.schedule : candidates.length > 0 ? routing.scheduleFor(Array.from(candidates)) : null;
    return schedule === null ? -1 : schedule.next();
  }
}

/** The subset of the first rule whose header matches, or -1. */
function matchRule(metadata: Metadata, rules: readonly RouteRule[]): number {
  for (const rule of rules) {
    for (const value of metadataValues(metadata, rule.header) ?? []) {
      if (typeof value === 'string' && rule.matches(value)) return rule.subset;
    }
  }
  return -1;
}

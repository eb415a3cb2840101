/**
 * The per-call pick, in the order of the routing semantics: explicit route (a hint from
 * `split.route({ subset })`), header rule, sticky key, weighted schedule. The chosen subset's
 * child picker chooses the endpoint. Never throws; failures are pick results.
 * @internal
 * @module
 */
import { Metadata, metadataValues, PickResultType, Status, type PickArgs, type PickResult, type Picker } from './grpc.js';
import { takeHint, type CallHint } from './hints.js';
import { callRecordOf, type CallRecord, type SubsetCounters } from './counters.js';
import type { RouteRule } from '../algorithms/rules.js';
import type { WeightedSchedule } from '../algorithms/scheduler.js';
import { rendezvousPick } from '../algorithms/sticky-hash.js';
import { StreamPin, type StreamBook, type StreamRecord } from '../algorithms/stream-book.js';
import { pickForStream } from './stream-pick.js';
import { streamRecordOf } from './stream-tracking.js';

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
  /** The split's token: a hint that lacks it is another split's (see hints.ts). */
  readonly token: string;
  readonly splitName: string;
  readonly subsetNames: readonly string[];
  readonly rules: readonly RouteRule[];
  readonly stickyKey: string | null;
  readonly seeds: Uint32Array;
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
  /** 1 for each subset in `schedule`: READY, or connecting within its grace (its calls queue). */
  readonly keepsShare: Uint8Array;
  /** Subsets a sticky key may map to now (weighted, READY or in grace), and the weights in force. */
  readonly stickyCandidates: Int32Array;
  /** Subsets a retry on another subset may use: weighted and READY. */
  readonly retryCandidates: Int32Array;
  readonly weights: readonly number[];
  /** What a call gets when no subset can take it. */
  readonly fallback: FixedPickResult;
  readonly counters: SubsetCounters;
  /** Null when nothing can route a call explicitly: the keyless fast path. */
  readonly routing: RoutingTable | null;
  /** Where keyless streams go (by open streams, not by the call schedule); null for a closed split. */
  readonly streams: StreamPlacement | null;
}

/** The split's stream book over the subsets keyless calls may use now (`equalShares`: the
 * weight-0 fallback, served evenly). */
export interface StreamPlacement {
  readonly book: StreamBook;
  readonly eligible: Int32Array;
  readonly equalShares: boolean;
}

export class TrafficSplitPicker implements Picker {
  constructor(private readonly parts: PickerParts) {}

  pick(args: PickArgs): PickResult {
    const { parts } = this;
    // Every call: the reserved header never reaches a server, whatever it holds.
    const hint = takeHint(args.metadata);
    if (parts.routing !== null) return this.pickRouted(args, parts.routing, hint);
    // A closed split (or one with no subset to offer) answers every call alike.
    if (parts.schedule === null) return parts.fallback;
    // Otherwise, without a routing table the split made no hint: this one is another split's.
    if (hint !== undefined && isRoute(hint)) return foreignRoute(hint);
    const record = callRecordOf(args.metadata);
    const stream = parts.streams === null ? undefined : streamRecordOf(args.metadata);
    if (stream !== undefined) {
      const subset = this.resumeOr(record, -2);
      return subset < 0 ? parts.fallback : this.pickStream(subset, args, stream, StreamPin.Keyless);
    }
    return this.pickSubset(this.resumeOr(record, -1), args, record);
  }

  /**
   * The subset of a keyless call: the one it was given before and waits for (it was picked
   * while that subset was connecting, and is picked again now), if that subset still keeps its
   * share; else the next of the schedule (`-1`) or of the stream placement (`-2`). A call is
   * given one place in the schedule however often it is picked again, so the calls a connecting
   * subset was given reach it once it is READY, and none is drawn twice.
   */
  private resumeOr(record: CallRecord | undefined, from: -1 | -2): number {
    if (record !== undefined && record.waitingFor >= 0) {
      const subset = record.waitingFor;
      record.waitingFor = -1;
      if (this.parts.keepsShare[subset] === 1) return this.holdPlace(record, subset);
    }
    const subset = from === -1 ? this.parts.schedule!.next() : this.placeStream();
    return subset < 0 ? subset : this.holdPlace(record, subset);
  }

  /** Notes on `record` the subset a call waits for when that subset is not READY yet. */
  private holdPlace(record: CallRecord | undefined, subset: number): number {
    if (record !== undefined && this.parts.notReady[subset] === QUEUE_RESULT) record.waitingFor = subset;
    return subset;
  }

  /** A keyless stream's subset: furthest below its share of the open streams. */
  private placeStream(): number {
    const streams = this.parts.streams!;
    return streams.book.choose(streams.eligible, this.parts.weights, streams.equalShares);
  }

  private pickStream(subset: number, args: PickArgs, stream: StreamRecord, pin: StreamPin): PickResult {
    return pickForStream(this.parts.streams!.book, stream, subset, pin, this.pickSubset(subset, args));
  }

  private pickSubset(subset: number, args: PickArgs, record: CallRecord | undefined = callRecordOf(args.metadata)): PickResult {
    const notReady = this.parts.notReady[subset];
    if (notReady !== null && notReady !== undefined) {
      // A call that ends while bound here is counted as not started on this subset.
      if (record !== undefined) record.queuedFor = subset;
      return notReady;
    }
    const result = this.parts.childPickers[subset]!.pick(args);
    return result.pickResultType === PickResultType.COMPLETE ? this.parts.counters.attach(subset, result, record) : result;
  }

  /** Explicit route, rule, sticky key, then the schedule, honouring retry hints. */
  private pickRouted(args: PickArgs, routing: RoutingTable, callHint: CallHint | undefined): PickResult {
    const metadata = args.metadata;
    let hint = callHint;
    if (hint !== undefined && hint.token !== routing.token) {
      if (isRoute(hint)) return foreignRoute(hint);
      hint = undefined; // another split's retry marks: a plain call here
    }
    if (hint?.retry === true && !hint.intercepted) return missingInterceptor(routing.splitName);
    const stream = this.parts.streams === null ? undefined : streamRecordOf(metadata);
    if (stream !== undefined) stream.key = undefined;
    let subset: number;
    let strict = true;
    if (hint?.subset !== undefined) {
      subset = routing.subsetNames.indexOf(hint.subset);
      if (subset < 0) return failure(PickResultType.DROP, `traffic_split: unknown subset "${hint.subset}" (subsets: ${routing.subsetNames.join(', ')})`);
    } else {
      subset = matchRule(metadata, routing.rules);
      if (subset < 0) {
        strict = false;
        subset = this.pickUnrouted(metadata, routing, hint?.key, hint?.avoid ?? -1, stream, callRecordOf(metadata));
        if (subset < 0) {
          if (hint?.avoid === undefined) return this.parts.fallback;
          // A retry with nowhere else to go: the interceptor ends the call with its first failure.
          if (hint.attempt !== undefined) hint.attempt.noOtherSubset = true;
          return NO_OTHER_SUBSET;
        }
      }
    }
    if (hint?.attempt !== undefined) {
      hint.attempt.subset = subset;
      hint.attempt.strict = strict;
    }
    if (stream !== undefined) return this.pickStream(subset, args, stream, strict ? StreamPin.Pinned : stream.key !== undefined ? StreamPin.Keyed : StreamPin.Keyless);
    return this.pickSubset(subset, args);
  }

  /** Sticky key, else the schedule (a stream: the open-stream placement); -1 when no subset can
   * take the call. Notes a stream's key on its record. */
  private pickUnrouted(
    metadata: Metadata,
    routing: RoutingTable,
    hintKey: string | undefined,
    avoid: number,
    stream: StreamRecord | undefined,
    record: CallRecord | undefined,
  ): number {
    let key = hintKey;
    if (key === undefined && routing.stickyKey !== null) {
      const value = metadataValues(metadata, routing.stickyKey)?.[0];
      if (typeof value === 'string') key = value;
    }
    const candidates = avoid < 0 ? this.parts.stickyCandidates : this.parts.retryCandidates.filter((i) => i !== avoid);
    if (key !== undefined) {
      if (stream !== undefined) stream.key = key;
      return rendezvousPick(key, candidates, this.parts.weights, routing.seeds);
    }
    if (avoid < 0) return this.parts.schedule === null ? -1 : this.resumeOr(record, stream !== undefined ? -2 : -1);
    // Streams are never retried on another subset (avoid < 0): only unary calls are.
    return candidates.length > 0 ? routing.scheduleFor(Array.from(candidates)).next() : -1;
  }
}

/** What a retry attempt gets when no other READY weighted subset exists. */
const NO_OTHER_SUBSET = failure(PickResultType.DROP, 'traffic_split: no other READY weighted subset to retry on');

function isRoute(hint: CallHint): boolean {
  return hint.subset !== undefined || hint.key !== undefined;
}

/** Strict routing: a route this split cannot honour fails, loudly, rather than go anywhere. */
function foreignRoute(hint: CallHint): PickResult {
  return failure(
    PickResultType.DROP,
    `traffic_split: route() call options of split "${hint.splitName}" used on a channel of another split; ` +
      'they only work on clients built from their own split\'s target',
  );
}

/** The split retries unary calls, and its interceptor did not see this one. */
function missingInterceptor(splitName: string): PickResult {
  return failure(
    PickResultType.DROP,
    `traffic_split: split "${splitName}" has retryOnOtherSubset on, but this client lacks its interceptor; ` +
      'build the client with split.withChannelOptions({ interceptors: [...yours] }) to add your own interceptors',
  );
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

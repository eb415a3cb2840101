/**
 * The public types of a split's handle: its figures, events and summary. Plain data, shared by
 * the handle and the operations built on it.
 * @module
 */
import type { RebalanceStreamsOptions } from '../algorithms/streams/stream-ender.js';
import type { CountersMark } from '../policy/call/counters.js';
import type { MirrorStats } from '../policy/mirror/mirror-figures.js';
import type { MirrorSettings } from '../policy/mirror/mirror-options.js';

export type { CallEnded, CallEndedListener } from '../policy/call/call-feed.js';

export type { ConnectivityStateName, StatusName } from '../base/names.js';
import type { ConnectivityStateName, StatusName } from '../base/names.js';

/** What `console.log(split)` and `JSON.stringify(split)` show: configuration and state only. */
export interface TrafficSplitSummary {
  name: string;
  target: string;
  closed: boolean;
  weights: Record<string, number>;
  subsets: Record<string, { target: string; state: ConnectivityStateName }>;
}

/**
 * Figures for one subset, for the split's lifetime (or since a mark). They are what a rollout
 * judges the subset on, so they count what the subset answered: `finished`, `codes` and
 * `latencyMs` cover the attempts the subset answered, while attempts whose status the
 * application never saw are counted apart (`abandoned`, `refused`) and calls that never reached
 * any subset are counted in `notStarted`; streams the split ended itself are in `rebalanced`.
 * Every started attempt ends in exactly one of `finished`, `abandoned`, `refused` and
 * `rebalanced`: `started = finished + abandoned + refused + rebalanced + inFlight`.
 */
export interface SubsetStats {
  weight: number;
  target: string;
  /** The least ready state across the split's channels: READY only when READY in all. */
  state: ConnectivityStateName;
  /** How many channels see the subset in each state. */
  channels: Partial<Record<ConnectivityStateName, number>>;
  /** Endpoints the subset's resolver returned. */
  endpoints: number;
  /** Attempts whose stream started on the subset (each attempt of a retried or hedged call
   * counts). */
  started: number;
  /** Attempts the subset answered, whatever the status: OK, an error from the server, a lost
   * connection, the call's deadline or a cancel by the application. An attempt that a retry
   * policy or `retryOnOtherSubset` then retried counts here too: the subset did fail it. */
  finished: number;
  /** Attempts in flight now: started and not yet ended. */
  inFlight: number;
  /** Streaming calls (client, server or bidi) open on the subset now, across every channel of
   * the split: placed here and not yet ended (counted only for clients built with
   * `channelOptions`). Included in `inFlight` once started. */
  openStreams: number;
  /** Streams the split ended itself (a rebalancing after a weight change, or `maxStreamAgeMs`):
   * not in `finished`, `codes` or `latencyMs`, so a rollout never judges the subset on them. */
  rebalanced: number;
  /** `finished` by status code name: the subset's error rate is `codes` over `finished`. */
  codes: Partial<Record<StatusName, number>>;
  /** Attempts cancelled by grpc-js because another attempt of the same call won (the losers of
   * a `hedgingPolicy`). Not failures, and not in `latencyMs`. */
  abandoned: number;
  /** Attempts the server refused before its application saw them (HTTP/2 REFUSED_STREAM, as
   * for a stream caught by a GOAWAY), which grpc-js retries transparently. Not failures, and not
   * in `latencyMs`. */
  refused: number;
  /** Calls that ended without starting anywhere (by status code) while bound to this subset
   * by an explicit route or a rule and the subset was not READY: queued under wait-for-ready
   * until their deadline or a cancel, or failed at once. Counted only for clients built with
   * `channelOptions` (the split's interceptor sees whole calls). */
  notStarted: Partial<Record<StatusName, number>>;
  /** Latency of the `finished` attempts, from the stream's start to its status, in
   * milliseconds (null before any finished); accurate to about 9%. A streaming call's is its
   * lifetime: judge latency on `unaryLatencyMs`, and streams on `streams`. */
  latencyMs: { p50: number | null; p90: number | null; p99: number | null };
  /** The same latencies as a histogram: `[bucket middle in ms, count]` for each non-empty
   * bucket of the fixed log-linear histogram (8 buckets per power of two), fastest first. */
  latencyHistogram: [ms: number, count: number][];
  /** `latencyMs` of the `finished` attempts that are not streams' (`finished - streams.finished`
   * of them): the latency to judge a version on. Streams of clients built without `channelOptions`
   * cannot be told from unary calls and are counted here. Absent from a fleet's figures. */
  unaryLatencyMs?: { p50: number | null; p90: number | null; p99: number | null };
  /** The same as a histogram, in the form of `latencyHistogram`. Absent from a fleet's figures. */
  unaryLatencyHistogram?: [ms: number, count: number][];
  /** The figures of streaming calls, whose lifetime is not a latency. Absent from a fleet's
   * figures. */
  streams?: StreamStats;
  /**
   * The same figures per method of the calls (option `methodFigures`), by full method name
   * (`/shop.Store/Read`): the methods declared, then the others in the order first seen up to
   * the limit; `other` counts every further method, `unknown` the calls whose method the split
   * never saw (clients built without its options). For each counted figure the methods add up
   * to the subset's. Every named method is listed under every subset. Empty when
   * `methodFigures` is off; absent from figures that do not count methods (a fleet's).
   */
  methods?: Record<string, MethodStats>;
}

/**
 * A subset's figures of streaming calls (client, server and bidi streaming calls of clients built
 * with `channelOptions`: only the split's interceptor sees messages). A stream's messages are
 * those its application received; they are counted on the subset of the attempt that delivered
 * them, and the time to the first one runs from that attempt's start on the subset. Counted
 * like the other figures: for the split's lifetime, or since a mark (`stats({ since })`), each
 * figure when it happens.
 */
export interface StreamStats {
  /** Answered attempts of streams: the part of `finished` (with their codes in `codes`) that is
   * streams, counted when the stream ends; what a judge of streams counts. A stream that failed
   * before any message is an ordinary failure, in `codes`. */
  finished: number;
  /** Of `finished`, the streams that had delivered at least one message, by the status code the
   * application got (`OK` included). Those with a failure code (a rollout's `failureCodes`) are
   * the mid-stream failures. */
  codesAfterFirstMessage: Partial<Record<StatusName, number>>;
  /** Time to first message: from the start of the attempt on the subset to the first message
   * the application received, in milliseconds, counted when that message arrives (so streams
   * still open count); null before any. Accurate to about 9%. */
  firstMessageMs: { p50: number | null; p90: number | null; p99: number | null };
  /** The same as a histogram, in the form of `latencyHistogram`. */
  firstMessageHistogram: [ms: number, count: number][];
  /** Gaps between consecutive messages of a stream (server and bidi streaming; a stream of `n`
   * messages has `n - 1`), in milliseconds, each counted when its later message arrives. */
  gapMs: { p50: number | null; p90: number | null; p99: number | null };
  /** The same as a histogram, in the form of `latencyHistogram`. */
  gapHistogram: [ms: number, count: number][];
}

/** One method's figures on one subset: the subset's figures, for that method's calls only. */
export type MethodStats = Pick<
  SubsetStats,
  | 'started'
  | 'finished'
  | 'inFlight'
  | 'openStreams'
  | 'rebalanced'
  | 'codes'
  | 'abandoned'
  | 'refused'
  | 'notStarted'
  | 'latencyMs'
  | 'latencyHistogram'
  | 'unaryLatencyMs'
  | 'unaryLatencyHistogram'
  | 'streams'
>;

/** A plain, JSON-able snapshot. */
export interface SplitStats {
  name: string;
  target: string;
  closed: boolean;
  /** Milliseconds the figures cover: since the split was created, or since the mark. */
  periodMs: number;
  weights: Record<string, number>;
  /** Method-weight overrides in force, by key (see the `methodWeights` option). */
  methodWeights: Record<string, Record<string, number>>;
  /** Channels currently built from the split. */
  channels: number;
  /** Calls that ended without any attempt starting, by status code: queued (no READY subset,
   * or their route's subset not READY) until their deadline or a cancel, or failed at the pick.
   * Includes the calls of every subset's `notStarted`. With the subsets' `started`, every call
   * made through `channelOptions` is counted: without retries or hedging, calls made =
   * sum of `started` + sum of `notStarted`. */
  notStarted: Partial<Record<StatusName, number>>;
  subsets: Record<string, SubsetStats>;
  /** The mirror's figures (see `setMirror()`): those of the mirror in force, or of the last one
   * (`active: false`); null if the split never had one. Copies are not in `subsets`. */
  mirror: MirrorStats | null;
}

/** Events of a `TrafficSplit`. */
export interface TrafficSplitEvents {
  /** New weights are in force. */
  weights: [change: { weights: Record<string, number>; previous: Record<string, number> }];
  /** A subset's state (the least ready across the split's channels, as in `stats()`) changed;
   * emitted on a change only, never twice in a row with the same state. */
  subsetState: [change: { subset: string; state: ConnectivityStateName }];
  /** The split was closed (once, from `close()`): rollouts and weights-file watchers stop. */
  close: [];
  /** Method-weight overrides changed (`setWeights(w, { methods })`, `setMethodWeights()`). */
  methodWeights: [
    change: {
      methods: Record<string, Record<string, number>>;
      previous: Record<string, Record<string, number>>;
    },
  ];
  /** `setMirror()` put a mirror (or none) in force. */
  mirror: [change: { mirror: MirrorSettings | null; previous: MirrorSettings | null }];
}

/** A point in a split's counters, from `split.mark()`. */
export type StatsMark = CountersMark;

/** Options of one `setWeights()` call. */
export interface SetWeightsOptions {
  /** Method-weight overrides to add, replace (the same key) or remove (`null`), applied with
   * the weights, all validated first; overrides not named stay as they are. See the split's
   * `methodWeights` option. */
  methods?: Record<string, Record<string, number> | null>;
  /** Rebalance open streams after this change (`{ withinMs }`), or not (`false`).
   * @default the split's `rebalanceStreams` option */
  rebalanceStreams?: RebalanceStreamsOptions | false;
}

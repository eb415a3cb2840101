/**
 * `TrafficSplit`: the public handle of one split. Channels built from `split.target` share its
 * live weights, its schedule and its counters.
 * @module
 */
import { EventEmitter } from 'node:events';
import { inspect, type InspectOptions } from 'node:util';
import { parseSplitConfig, weightsToRecord, configToJson, type TrafficSplitConfigJson } from './config.js';
import { POLICY_NAME, TARGET_SCHEME } from './constants.js';
import type { Clock } from './clock.js';
import { TrafficSplitClosedError, typeErrorAt } from './errors.js';
import { ConnectivityState, defaultAuthorityOf, Status } from './grpc.js';
import { register } from './register.js';
import { registerSplit, unregisterSplit } from './resolver.js';
import { SplitState, type SplitStateEvent } from './split-state.js';
import type { CountersMark } from './counters.js';
import { createInterceptor, routeOptions, type InterceptorContext, type RouteRequest } from './interceptor.js';
import { createCallGuard } from './call-guard.js';
import { composeClientOptions } from './channel-options.js';
import { interceptorWithHooks } from './otel-hooks.js';
import { withCallTracking } from './call-tracking.js';
import { rendezvousPick, subsetSeeds } from './sticky-hash.js';
import { startRollout, type Rollout, type RolloutOptions } from './rollout.js';
import { MirrorController } from './mirror.js';
import { withMirror } from './mirror-interceptor.js';
import { withMirrorCapture } from './mirror-capture.js';
import { parseMirrorOptions, type MirrorOptions, type MirrorSettings } from './mirror-options.js';
import type { MirrorStats } from './mirror-figures.js';
import { booleanValue, clockValue, oneOf, requireObject, safeInteger, stringMatching, stringValue } from './validate.js';
import type { CallOptions, ClientOptions, Interceptor } from '@grpc/grpc-js';

/** Options of `new TrafficSplit()`: the policy config plus the split's own settings. */
export interface TrafficSplitOptions extends TrafficSplitConfigJson {
  /** Used in the target, logs and errors. Letters, digits, `_`, `.` and `-`. @default "split" */
  name?: string;
  /**
   * The authority (`:authority` header and TLS name check) of channels built from the split.
   * @default the default authority of the first subset's target (`reporter-v1.prod.svc:9090`
   * for `dns:///reporter-v1.prod.svc:9090`)
   */
  authority?: string;
  /**
   * Retry a unary call once on another READY weighted subset when it failed with UNAVAILABLE
   * before any response message (its connection was lost, or the server answered UNAVAILABLE).
   * The failure still counts against the subset that failed. Response headers alone do not
   * count as a response (grpc-js servers send them as soon as a call arrives), so the first
   * attempt may have reached the server: turn this on for idempotent methods only. Calls routed
   * explicitly or by a rule are never retried elsewhere. @default false
   */
  retryOnOtherSubset?: boolean;
  /**
   * Seeds the random source of the split's schedule: its starting phase and the arrangement of
   * calls within the exactness bound. The same seed, weights and call sequence give the same
   * routing again (tests, reproductions). Leave it out in production, so that replicas started
   * together do not move in lockstep. A safe integer. @default a seed from the OS's random source
   */
  scheduleSeed?: number;
  /**
   * Time source of the channels' periodic re-resolution (`reresolveIntervalMs`) and of the
   * least time between two resolutions a subset's policy asks for. For tests: with a fake clock
   * a re-resolution happens only when the test moves time on. grpc-js's own timers (connection
   * backoff, idle timeout) and the times in `stats()` stay on real time.
   * @default the real clock (`Date.now()`, `setTimeout()`)
   */
  clock?: Clock;
  /** Shadow traffic from the start: see `setMirror()`. @default no mirror */
  mirror?: MirrorOptions | null;
}

/**
 * A grpc-js connectivity state by name. Spelt out rather than derived from grpc-js's enum, so
 * that it stays an exact union in every consumer's compilation, whatever its `lib` setting.
 */
export type ConnectivityStateName = 'IDLE' | 'CONNECTING' | 'READY' | 'TRANSIENT_FAILURE' | 'SHUTDOWN';
/** A gRPC status code by name (`'OK'`, `'UNAVAILABLE'`, ...), as in `stats()` and rollout options. */
export type StatusName =
  | 'OK'
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

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
 * any subset are counted in `notStarted`. Every started attempt ends in exactly one of
 * `finished`, `abandoned` and `refused`: `started = finished + abandoned + refused + inFlight`.
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
   * milliseconds (null before any finished); accurate to about 9%. */
  latencyMs: { p50: number | null; p90: number | null; p99: number | null };
  /** The same latencies as a histogram: `[bucket middle in ms, count]` for each non-empty
   * bucket of the fixed log-linear histogram (8 buckets per power of two), fastest first. */
  latencyHistogram: [ms: number, count: number][];
}

/** A plain, JSON-able snapshot. */
export interface SplitStats {
  name: string;
  target: string;
  closed: boolean;
  /** Milliseconds the figures cover: since the split was created, or since the mark. */
  periodMs: number;
  weights: Record<string, number>;
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
  /** `setMirror()` put a mirror (or none) in force. */
  mirror: [change: { mirror: MirrorSettings | null; previous: MirrorSettings | null }];
}

/** A point in a split's counters, from `split.mark()`. */
export type StatsMark = CountersMark;

const SPLIT_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
let nextSplitNumber = 1;

/**
 * Splits the calls of every channel built from it between backend subsets, per call, over the
 * connections those channels already hold.
 * @example
 * const split = new TrafficSplit({
 *   subsets: { v1: 'dns:///reporter-v1:9090', v2: 'dns:///reporter-v2:9090' },
 *   weights: { v1: 90, v2: 10 },
 * });
 * const client = new ReporterClient(split.target, grpc.credentials.createInsecure(), split.channelOptions);
 * split.setWeights({ v1: 10, v2: 90 }); // the next call of every channel
 */
export class TrafficSplit extends EventEmitter<TrafficSplitEvents> {
  readonly name: string;
  /** The channel target: `traffic-split:///<name>-<n>`. Valid in this process only. */
  readonly target: string;
  /**
   * Options to pass when building a client from `target`: they install `interceptor` and the
   * split's `callInvocationTransformer`. To add options or interceptors of your own, use
   * `withChannelOptions()` rather than spreading this object.
   */
  readonly channelOptions: Readonly<ClientOptions>;
  /** The interceptor that carries `route()` options to the split, retries on another subset and
   * counts calls that never start (`notStarted`). It must come last in a client's interceptor list. */
  readonly interceptor: Interceptor;
  private readonly routing: InterceptorContext;
  /** The subset names, in declaration order. */
  readonly subsets: readonly string[];
  private readonly targets: readonly string[];
  private readonly state: SplitState;
  private readonly id: string;
  private readonly seeds: Uint32Array;
  /** Every subset index: the candidates of `subsetFor()`. */
  private readonly allSubsets: Int32Array;
  private readonly createdAt = Date.now();
  /** The state last emitted in a `subsetState` event, per subset (IDLE: no channel yet). */
  private readonly lastSubsetStates: ConnectivityState[];
  private readonly mirrorControl: MirrorController;

  constructor(options: TrafficSplitOptions) {
    super();
    // First: on an unsupported grpc-js this must fail with the clear error, not inside parsing.
    register();
    const raw = requireObject(options, 'options', 'an object with "subsets" and "weights"');
    const config = parseSplitConfig(raw, ['name', 'authority', 'retryOnOtherSubset', 'scheduleSeed', 'clock', 'mirror']);
    const mirror = raw['mirror'] == null ? null : parseMirrorOptions(raw['mirror'], config.subsetNames);
    const retryOnOtherSubset = booleanValue('retryOnOtherSubset', raw['retryOnOtherSubset'] ?? false);
    this.name = parseName(raw['name']);
    const authority = parseAuthority(raw['authority']) ?? defaultAuthorityOf(config.targets[0]!);
    this.subsets = config.subsetNames;
    this.targets = config.targets;
    this.lastSubsetStates = this.subsets.map(() => ConnectivityState.IDLE);
    const seed = raw['scheduleSeed'] === undefined ? undefined : safeInteger('scheduleSeed', raw['scheduleSeed']);
    const clock = raw['clock'] === undefined ? undefined : clockValue('clock', raw['clock']);
    this.state = new SplitState(this.name, config.subsetNames, config.weights, (event) => this.forward(event), seed, clock);
    this.id = `${this.name}-${nextSplitNumber++}`;
    this.target = `${TARGET_SCHEME}:///${this.id}`;
    this.routing = Object.freeze({ token: this.state.token, splitName: this.name, target: this.target, retryOnOtherSubset });
    this.mirrorControl = new MirrorController(config.subsetNames, this.state.token, this.name, this.target);
    // The mirror layer is outermost: its copies go straight to the channel, past the layers that
    // count, trace and retry the split's own calls.
    this.interceptor = withMirror(
      interceptorWithHooks(this, this.state, withCallTracking(createInterceptor(this.routing), this.state.counters)),
      this.mirrorControl,
    );
    if (mirror !== null) this.applyMirror(mirror);
    // The pickers must look for the retry hints the interceptor attaches.
    if (retryOnOtherSubset) this.state.armRoutes();
    this.channelOptions = Object.freeze(composeClientOptions({ interceptor: this.interceptor, callGuard: withMirrorCapture(createCallGuard(this.routing), this.mirrorControl) }, {}));
    this.seeds = subsetSeeds(this.subsets);
    this.allSubsets = Int32Array.from(this.subsets.keys());
    registerSplit(this.id, {
      state: this.state,
      authority,
      // Built per resolution so a channel created later starts from the weights in force.
      policyConfig: () => ({ [POLICY_NAME]: configToJson({ ...config, weights: this.state.weights }) }),
    });
  }

  /**
   * Replaces all weights. Takes effect on the next call of every channel built from the split;
   * calls in flight stay where they are and no connection is opened or closed. Every subset
   * needs a weight (0 sends it no calls but keeps its connections), at least one > 0. Invalid
   * weights throw a `TypeError`/`RangeError` naming the field and leave the weights in force.
   * @example split.setWeights({ v1: 10, v2: 90 });
   */
  setWeights(weights: Record<string, number>): void {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'setWeights()');
    this.state.setWeights(weights);
  }

  /**
   * Shadow traffic: copies a share of the unary calls made through `channelOptions` to the
   * subset `options.subset`, and, with `compare`, holds each copy's answer against the primary's.
   * The primary is never affected: the copy starts after the primary started on another subset
   * (a call that itself goes to the mirror subset is not copied), is never awaited, never
   * retried, never wait-for-ready, and its outcome is only counted, in `stats().mirror`, apart
   * from the subsets' figures. `null` turns the mirror off: no copy starts after it. Each call
   * starts fresh figures. Invalid options throw a `TypeError`/`RangeError` naming the field and
   * leave the mirror in force as it was.
   * @example split.setMirror({ subset: 'v2', percent: 10, compare: true });
   */
  setMirror(options: MirrorOptions | null): void {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'setMirror()');
    this.applyMirror(options === null ? null : parseMirrorOptions(options, this.subsets));
  }

  /** The mirror in force with every default filled in, or null. */
  getMirror(): MirrorSettings | null {
    return this.mirrorControl.settings;
  }

  private applyMirror(settings: MirrorSettings | null): void {
    const previous = this.mirrorControl.settings;
    // Copies are routed by a hint, which pickers read once routes are armed.
    if (settings !== null) this.state.armRoutes();
    this.mirrorControl.set(settings);
    this.emit('mirror', { mirror: settings, previous });
  }

  /** The weights in force, as a new object. */
  getWeights(): Record<string, number> {
    return weightsToRecord(this.subsets, this.state.weights);
  }

  /**
   * A plain, JSON-able snapshot of weights, states and call figures per subset: for the split's
   * lifetime, or, with `since`, for the calls that finished after that mark (what a rollout
   * step is judged on).
   * @example
   * const mark = split.mark();
   * // ... one rollout step later
   * const step = split.stats({ since: mark });
   */
  stats(options: { since?: StatsMark } = {}): SplitStats {
    const since = options.since ?? null;
    const subsets: Record<string, SubsetStats> = {};
    this.subsets.forEach((name, i) => {
      const figures = this.state.counters.figures(i, since);
      subsets[name] = {
        weight: this.state.weights[i]!,
        target: this.targets[i]!,
        state: ConnectivityState[this.state.subsetState(i)] as ConnectivityStateName,
        channels: this.state.subsetStateCounts(i),
        endpoints: this.state.subsetEndpointCount(i),
        started: figures.started,
        finished: figures.finished,
        inFlight: this.state.counters.inFlight(i),
        codes: byCodeName(figures.codes),
        abandoned: figures.abandoned,
        refused: figures.refused,
        notStarted: byCodeName(figures.notStarted),
        latencyMs: figures.latencyMs,
        latencyHistogram: figures.latencyHistogram,
      };
    });
    return {
      name: this.name,
      target: this.target,
      closed: this.state.closed,
      periodMs: Date.now() - (since?.at ?? this.createdAt),
      weights: this.getWeights(),
      channels: this.state.channelCount,
      notStarted: byCodeName(this.state.counters.splitNotStarted(since)),
      subsets,
      mirror: this.mirrorControl.stats(),
    };
  }

  /** Marks the counters now; pass the mark to `stats({ since })`. */
  mark(): StatsMark {
    return this.state.counters.mark();
  }

  /**
   * `options` plus what the split needs (`channelOptions`), for a client built from `target`
   * with client options of your own. Your interceptors (or interceptor providers) run first, the
   * split's interceptor last; your `callInvocationTransformer` runs before the split's.
   * `options` is not modified.
   * @example
   * const client = new ReporterClient(split.target, creds, split.withChannelOptions({
   *   interceptors: [authInterceptor, loggingInterceptor],
   *   'grpc.keepalive_time_ms': 30_000,
   * }));
   */
  withChannelOptions(options: ClientOptions): ClientOptions {
    return composeClientOptions({ interceptor: this.interceptor, callGuard: this.channelOptions.callInvocationTransformer! }, options);
  }

  /**
   * Call options that route one call: `{ subset }` pins it to that subset (any weight, failing
   * with UNAVAILABLE naming the subset if it has no READY endpoint), `{ key }` gives it a
   * sticky key. Needs a client built from `target` with `channelOptions` (or
   * `withChannelOptions()`); on any other client the call fails with UNAVAILABLE before anything
   * is sent. The route never leaves the process.
   * @example client.getReport(request, split.route({ subset: 'v2' }), callback);
   */
  route(route: RouteRequest): CallOptions {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'route()');
    const raw = requireObject(route, 'route', 'an object with "subset" or "key"');
    const hasSubset = raw['subset'] !== undefined;
    if (hasSubset === (raw['key'] !== undefined)) throw typeErrorAt('route', 'exactly one of "subset" and "key"', route);
    if (hasSubset) oneOf('route.subset', raw['subset'], this.subsets, `one of the subsets ${this.subsets.join(', ')}`);
    if (!hasSubset) stringValue('route.key', raw['key']);
    this.state.armRoutes();
    return routeOptions(this.routing, route);
  }

  /**
   * The subset a sticky key maps to under the weights in force (every weighted subset counted,
   * whatever its state): for logs, previews and tests.
   */
  subsetFor(key: string): string {
    stringValue('key', key);
    return this.subsets[rendezvousPick(key, this.allSubsets, this.state.weights, this.seeds)]!;
  }

  /**
   * Starts an automated rollout of one subset on this split: see `startRollout()`.
   * @example const { outcome } = await split.rollout({ subset: 'v2', steps: [10, 50], intervalMs: 60_000, analysis: { maxErrorRate: 0.01 } }).done;
   */
  rollout(options: RolloutOptions): Rollout {
    return startRollout(this, options);
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.state.closed;
  }

  /**
   * Stops discovery and releases every subchannel the split's channels hold for it. Calls in
   * flight finish; new calls on its channels fail with UNAVAILABLE; `setWeights()` throws.
   * Close the clients themselves as usual. Idempotent.
   */
  close(): void {
    if (this.state.closed) return;
    unregisterSplit(this.id);
    this.mirrorControl.close();
    this.state.close();
    this.emit('close');
  }

  /** Name, target, weights and subset states: never the routing token or other internals. */
  toJSON(): TrafficSplitSummary {
    const subsets: TrafficSplitSummary['subsets'] = {};
    this.subsets.forEach((name, i) => {
      subsets[name] = { target: this.targets[i]!, state: ConnectivityState[this.state.subsetState(i)] as ConnectivityStateName };
    });
    return { name: this.name, target: this.target, closed: this.state.closed, weights: this.getWeights(), subsets };
  }

  /** `console.log(split)` shows `toJSON()`: the state behind the split (its routing token, its
   * channels) is not for logs. */
  [inspect.custom](depth: number, options: InspectOptions): string {
    if (depth < 0) return `[TrafficSplit ${this.name}]`;
    // The summary stands in for the split itself: same depth, not one level deeper.
    return `TrafficSplit ${inspect(this.toJSON(), { ...options, depth: options.depth == null ? null : depth })}`;
  }

  private forward(event: SplitStateEvent): void {
    if (event.type === 'weights') {
      this.emit('weights', {
        weights: weightsToRecord(this.subsets, event.weights),
        previous: weightsToRecord(this.subsets, event.previous),
      });
    } else {
      // Channels report every child update, most of them repeating the state (a subset that
      // stays down reports TRANSIENT_FAILURE at each failed reconnect): emit changes only.
      const state = this.state.subsetState(event.subset);
      if (this.lastSubsetStates[event.subset] === state) return;
      this.lastSubsetStates[event.subset] = state;
      this.emit('subsetState', { subset: this.subsets[event.subset]!, state: ConnectivityState[state] as ConnectivityStateName });
    }
  }
}

function byCodeName(counts: ReadonlyMap<number, number>): Partial<Record<StatusName, number>> {
  const named: Partial<Record<StatusName, number>> = {};
  for (const [code, count] of counts) named[Status[code] as StatusName] = count;
  return named;
}

function parseName(raw: unknown): string {
  if (raw === undefined) return 'split';
  return stringMatching('name', raw, SPLIT_NAME_PATTERN, `a string matching ${SPLIT_NAME_PATTERN}`);
}

function parseAuthority(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  return stringMatching('authority', raw, /^[^\s/]+$/, 'a host[:port] string');
}

/**
 * `TrafficSplit`: the public handle of one split. Channels built from `split.target` share its
 * live weights, its schedule and its counters.
 * @module
 */
import { EventEmitter } from 'node:events';
import { inspect, type InspectOptions } from 'node:util';
import { weightsToRecord, configToJson, validateWeights } from '../policy/balancer/config.js';
import { checkOverridesInForce, methodWeightsToRecord, parseMethodWeights } from '../policy/methods/method-weights.js';
import { POLICY_NAME, TARGET_SCHEME } from '../base/constants.js';
import { TrafficSplitClosedError, typeErrorAt } from '../base/errors.js';
import { ConnectivityState } from '../policy/grpc/grpc.js';
import { register } from '../policy/balancer/register.js';
import { registerSplit, unregisterSplit } from '../policy/balancer/resolver.js';
import { SplitState, type SplitStateEvent } from '../policy/balancer/split-state.js';
import { routeOptions, type InterceptorContext, type RouteRequest } from '../policy/call/route-options.js';
import { createCallPipeline } from '../policy/call/call-pipeline.js';
import { createCallGuard } from '../policy/call/call-guard.js';
import { composeClientOptions } from '../policy/grpc/channel-options.js';
import { createTelemetryPort } from '../policy/call/telemetry-port.js';
import { MethodCounters } from '../policy/call/method-counters.js';
import { CallFeed } from '../policy/call/call-feed.js';
import { rendezvousPick, subsetSeeds } from '../algorithms/routing/sticky-hash.js';
import type { SplitHandle } from './handle.js';
import type {
  CallEndedListener,
  ConnectivityStateName,
  SetWeightsOptions,
  SplitStats,
  StatsMark,
  TrafficSplitEvents,
  TrafficSplitSummary,
} from './types.js';
import { parseSplitOptions, type TrafficSplitOptions } from './options.js';
import { byCodeName, subsetStats } from './split-stats.js';
import { issuedMark, sinceMarkOf } from './stats-marks.js';
import { warnIfNameInUse } from './name-warning.js';
import { oneOf, requireObject, stringValue } from '../base/validate.js';
import type { RebalanceStreamsOptions, StreamEnder } from '../algorithms/streams/stream-ender.js';
import { createStreamEnder, parseSetWeightsOptions } from '../policy/streams/stream-setup.js';
import { MirrorController } from '../policy/mirror/mirror.js';
import { mirrorStage } from '../policy/mirror/mirror-interceptor.js';
import { mirrorPreparation } from '../policy/mirror/mirror-capture.js';
import { channelFactory } from '../policy/mirror/mirror-channels.js';
import { registerMirrorTargets, unregisterMirrorTargets } from '../policy/mirror/mirror-resolver.js';
import { parseMirrorOptions, type MirrorOptions, type MirrorSettings } from '../policy/mirror/mirror-options.js';
import { checkNoiseWeight } from '../policy/mirror/noise/mirror-noise-options.js';
import type { CallOptions, ClientOptions, Interceptor } from '@grpc/grpc-js';

export type { TrafficSplitOptions } from './options.js';

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
export class TrafficSplit extends EventEmitter<TrafficSplitEvents> implements SplitHandle {
  readonly name: string;
  /** The channel target: `traffic-split:///<name>-<n>`. Valid in this process only. */
  readonly target: string;
  /**
   * Options to pass when building a client from `target`: they install `interceptor`, the
   * split's `callInvocationTransformer` and its `channelFactoryOverride` (which gives each
   * client channel the copy channel shadow traffic needs). To add options or interceptors of
   * your own, use `withChannelOptions()` rather than spreading this object.
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
  private readonly rebalanceStreams: RebalanceStreamsOptions | null;
  private readonly streamEnder: StreamEnder;
  private readonly mirrorControl: MirrorController;
  /** Builds the split's clients' channels: each knows its credentials, for its mirror copies. */
  private readonly channelFactory: NonNullable<ClientOptions['channelFactoryOverride']>;
  private readonly feed: CallFeed;

  constructor(options: TrafficSplitOptions) {
    super();
    // First: on an unsupported grpc-js this must fail with the clear error, not inside parsing.
    register();
    const parsed = parseSplitOptions(options);
    const {
      config,
      name,
      authority,
      retryOnOtherSubset,
      seed,
      clock,
      rebalanceStreams,
      maxStreamAgeMs,
      mirror,
      methodWeights,
    } = parsed;
    this.name = name;
    this.subsets = config.subsetNames;
    this.targets = config.targets;
    this.lastSubsetStates = this.subsets.map(() => ConnectivityState.IDLE);
    this.rebalanceStreams = rebalanceStreams;
    this.state = new SplitState(
      this.name,
      config.subsetNames,
      config.weights,
      (event) => this.forward(event),
      seed,
      clock,
    );
    if (parsed.methodFigures !== null)
      this.state.counters.methods = new MethodCounters(parsed.methodFigures, this.subsets.length);
    this.feed = new CallFeed(this.state.counters, this.subsets);
    this.id = `${this.name}-${nextSplitNumber++}`;
    this.target = `${TARGET_SCHEME}:///${this.id}`;
    this.routing = Object.freeze({
      token: this.state.token,
      splitName: this.name,
      target: this.target,
      retryOnOtherSubset,
    });
    this.mirrorControl = new MirrorController(config.subsetNames, this.id, this.target);
    this.channelFactory = channelFactory(this.mirrorControl.copies);
    registerMirrorTargets(this.id, {
      targets: config.targets,
      authority,
      childPolicy: config.childPolicy.toJsonObject(),
    });
    this.interceptor = createCallPipeline({
      owner: this.routing,
      counters: this.state.counters,
      streams: this.state.streams,
      telemetry: createTelemetryPort(this, this.state),
      mirror: mirrorStage(this.mirrorControl),
    });
    if (mirror !== null) this.applyMirror(mirror);
    // The pickers must look for the retry marks the pipeline attaches.
    if (retryOnOtherSubset) this.state.armRoutes();
    const callGuard = createCallGuard(this.routing, mirrorPreparation(this.mirrorControl));
    this.channelOptions = Object.freeze(
      this.withChannelFactory(composeClientOptions({ interceptor: this.interceptor, callGuard }, {})),
    );
    this.seeds = subsetSeeds(this.subsets);
    this.allSubsets = Int32Array.from(this.subsets.keys());
    this.streamEnder = createStreamEnder(this.state, this.seeds, maxStreamAgeMs);
    // After the stream ender: each override's stream book takes the split's stream listener.
    this.state.applyMethodWeights(methodWeights, true);
    warnIfNameInUse(this.name, this.target);
    registerSplit(this.id, {
      state: this.state,
      authority,
      // The weights stay out of it: the policy reads them from the state (see PolicyConfig).
      policyConfig: { [POLICY_NAME]: configToJson({ ...config, weights: null, weightsFrom: this.id }) },
    });
  }

  /**
   * Replaces all weights. Takes effect on the next call of every channel built from the split;
   * calls in flight stay where they are and no connection is opened or closed. Every subset
   * needs a weight (0 sends it no calls but keeps its connections), at least one > 0. Invalid
   * weights throw a `TypeError`/`RangeError` naming the field and leave the weights in force.
   * Open streams stay where they are, unless `rebalanceStreams` (here, or the split's option)
   * asks to move some of them.
   * @example split.setWeights({ v1: 10, v2: 90 });
   * @example split.setWeights({ v1: 10, v2: 90 }, { rebalanceStreams: { withinMs: 5_000 } });
   */
  setWeights(weights: Record<string, number>, options?: SetWeightsOptions): void {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'setWeights()');
    const rebalance = parseSetWeightsOptions(options, this.rebalanceStreams);
    const validated = validateWeights(this.subsets, weights);
    const methods = options?.methods;
    const changes = methods === undefined ? null : parseMethodWeights(this.subsets, methods, 'options.methods', true);
    if (changes !== null) checkOverridesInForce(this.state.methods.sizeAfter(changes, false), 'options.methods');
    const before = this.state.weights;
    this.state.applyWeights(validated);
    if (changes !== null) this.state.applyMethodWeights(changes, false);
    if (this.state.weights !== before) this.streamEnder.weightsChanged(rebalance);
  }

  /**
   * Replaces every method-weight override with `methods` (`{}` removes them all); the split's
   * weights stay. Overrides kept carry their schedules on, as `setWeights()` does. Invalid input
   * throws naming the field and changes nothing.
   * @example split.setMethodWeights({ '/shop.Store/Write': { v1: 100, v2: 0 } });
   */
  setMethodWeights(methods: Record<string, Record<string, number>>): void {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'setMethodWeights()');
    this.state.applyMethodWeights(parseMethodWeights(this.subsets, methods, 'methods', false), true);
  }

  /** The method-weight overrides in force, by key, as new objects. */
  getMethodWeights(): Record<string, Record<string, number>> {
    return methodWeightsToRecord(this.subsets, this.state.methods.weights());
  }

  /**
   * Shadow traffic: copies a share of the unary calls made through `channelOptions` to the subset
   * `options.subset`, and, with `compare`, holds each copy's answer against the primary's. The primary is
   * never affected: the copy starts after the primary started on another subset (a call that itself goes to
   * the mirror subset is not copied), on a channel of its own (no retry throttle, retry buffer, hedging
   * policy or call queue shared with a primary), is never awaited, never retried, never wait-for-ready, and
   * its outcome is only counted, in `stats().mirror`, apart from the subsets' figures. What the mirror holds
   * is bounded by `maxInFlight` copies and `maxBufferedBytes` bytes; a copy over either is dropped and
   * counted. `null` turns the mirror off: no copy starts after it. Each call starts fresh figures. Invalid
   * options throw a `TypeError`/`RangeError` naming the field and leave the mirror in force as it was.
   * @example split.setMirror({ subset: 'v2', percent: 10, compare: true });
   */
  setMirror(options: MirrorOptions | null): void {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'setMirror()');
    const settings = options === null ? null : parseMirrorOptions(options, this.subsets);
    checkNoiseWeight(settings?.noise, this.getWeights());
    this.applyMirror(settings);
  }

  /** The mirror in force with every default filled in, or null. */
  getMirror(): MirrorSettings | null {
    return this.mirrorControl.settings;
  }

  private applyMirror(settings: MirrorSettings | null): void {
    const previous = this.mirrorControl.settings;
    this.mirrorControl.set(settings);
    this.emit('mirror', { mirror: settings, previous });
  }

  /**
   * The weights in force, as a new object: the split's, or, given a full method name, those
   * that apply to its calls (its override, else the split's).
   * @example split.getWeights('/shop.Store/Write') // { v1: 100, v2: 0 }
   */
  getWeights(method?: string): Record<string, number> {
    return weightsToRecord(this.subsets, this.weightsFor(method));
  }

  private weightsFor(method: string | undefined): readonly number[] {
    if (method === undefined) return this.state.weights;
    stringValue('method', method);
    const index = this.state.methods.lookup?.indexOf(method) ?? -1;
    return index < 0 ? this.state.weights : this.state.methods.list[index]!.schedules.weights;
  }

  /**
   * A plain, JSON-able snapshot of weights, states and call figures per subset: for the split's
   * lifetime, or, with `since`, for the calls that finished after that mark (what a rollout
   * step is judged on).
   * @example
   * const mark = split.mark();
   * // ... one rollout step later
   * const step = split.stats({ since: mark });
   * @throws {TrafficSplitTypeError} when `since` is not a mark of this split.
   */
  stats(options?: { since?: StatsMark }): SplitStats {
    const since = sinceMarkOf(options, this);
    return {
      name: this.name,
      target: this.target,
      closed: this.state.closed,
      periodMs: Date.now() - (since?.at ?? this.createdAt),
      weights: this.getWeights(),
      methodWeights: this.getMethodWeights(),
      channels: this.state.channels.size,
      notStarted: byCodeName(this.state.counters.splitNotStarted(since)),
      subsets: subsetStats(this.state, this.targets, since),
      mirror: this.mirrorControl.stats(),
    };
  }

  /** Marks the counters now; pass the mark to `stats({ since })`. */
  mark(): StatsMark {
    return issuedMark(this.state.counters.mark(), this);
  }

  /**
   * Calls `listener` once for each answered attempt, as `stats()` counts it in `finished` (see
   * `SplitHandle.onCallEnded`); returns the function that removes it.
   * @example const stop = split.onCallEnded(({ subset, method, code }) => judge.observe(subset, method, code));
   */
  onCallEnded(listener: CallEndedListener): () => void {
    return this.feed.add(listener);
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
    return this.withChannelFactory(
      composeClientOptions(
        { interceptor: this.interceptor, callGuard: this.channelOptions.callInvocationTransformer! },
        options,
      ),
    );
  }

  /** `options` with the split's channel factory, which mirror copies need (it gives each client
   * channel a copy channel); a client given a channel of the application's own is not mirrored. */
  private withChannelFactory(options: ClientOptions): ClientOptions {
    // Tested as grpc-js's Client tests them (truthiness): a null one builds the usual channel,
    // which must then be the split's.
    if (options.channelOverride || options.channelFactoryOverride) return options;
    return { ...options, channelFactoryOverride: this.channelFactory };
  }

  /**
   * Call options that route one call: `{ subset }` pins it to that subset (any weight, failing
   * with UNAVAILABLE naming the subset if it has no READY endpoint), `{ key }` gives it a
   * sticky key. Needs a client built from `target` with `channelOptions` (or
   * `withChannelOptions()`); on any other client, one built from `target` without them included,
   * the call fails with UNAVAILABLE before anything is sent. The options carry `credentials` of
   * their own (that refusal, taken off by the split's options): give call credentials of yours,
   * and any other call options, as `options`, which keeps the refusal (credentials spread over
   * the result replace it, so a client without the split's options would send the call
   * wherever the weights send it). The route never leaves the process.
   * @example client.getReport(request, split.route({ subset: 'v2' }), callback);
   * @example
   * const options = split.route({ subset: 'v2' }, { credentials: perCallCreds, deadline });
   * client.getReport(request, options, callback);
   */
  route(route: RouteRequest, options?: CallOptions): CallOptions {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'route()');
    if (options !== undefined) requireObject(options, 'options', 'call options such as { credentials, deadline }');
    const raw = requireObject(route, 'route', 'an object with "subset" or "key"');
    const hasSubset = raw['subset'] !== undefined;
    if (hasSubset === (raw['key'] !== undefined))
      throw typeErrorAt('route', 'exactly one of "subset" and "key"', route);
    if (hasSubset) oneOf('route.subset', raw['subset'], this.subsets, `one of the subsets ${this.subsets.join(', ')}`);
    if (!hasSubset) stringValue('route.key', raw['key']);
    this.state.armRoutes();
    return routeOptions(this.routing, route, options);
  }

  /**
   * The subset a sticky key maps to under the weights in force (every weighted subset counted,
   * whatever its state), for calls of `method` if given (its override's weights): for logs,
   * previews and tests.
   */
  subsetFor(key: string, method?: string): string {
    stringValue('key', key);
    return this.subsets[rendezvousPick(key, this.allSubsets, this.weightsFor(method), this.seeds)]!;
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
    this.streamEnder.close();
    this.mirrorControl.close();
    unregisterMirrorTargets(this.id);
    this.state.close();
    this.emit('close');
  }

  /** Name, target, weights and subset states: never the routing token or other internals. */
  toJSON(): TrafficSplitSummary {
    const subsets: TrafficSplitSummary['subsets'] = {};
    this.subsets.forEach((name, i) => {
      subsets[name] = {
        target: this.targets[i]!,
        state: ConnectivityState[this.state.channels.subsetState(i)] as ConnectivityStateName,
      };
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
    } else if (event.type === 'methodWeights') {
      this.emit('methodWeights', {
        methods: methodWeightsToRecord(this.subsets, event.methods),
        previous: methodWeightsToRecord(this.subsets, event.previous),
      });
    } else {
      // Channels report every child update, most of them repeating the state (a subset that
      // stays down reports TRANSIENT_FAILURE at each failed reconnect): emit changes only.
      const state = this.state.channels.subsetState(event.subset);
      if (this.lastSubsetStates[event.subset] === state) return;
      this.lastSubsetStates[event.subset] = state;
      this.emit('subsetState', {
        subset: this.subsets[event.subset]!,
        state: ConnectivityState[state] as ConnectivityStateName,
      });
      // A subset back (or up for the first time, after streams opened elsewhere) is owed its share.
      if (state === ConnectivityState.READY && this.rebalanceStreams !== null)
        this.streamEnder.subsetReady(this.rebalanceStreams);
    }
  }
}

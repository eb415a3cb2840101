/**
 * `TrafficSplit`: the public handle of one split. Channels built from `split.target` share its
 * live weights, its schedule and its counters.
 * @module
 */
import { EventEmitter } from 'node:events';
import { parseSplitConfig, weightsToRecord, configToJson, type TrafficSplitConfigJson } from './config.js';
import { requireObject } from './config-helpers.js';
import { POLICY_NAME, TARGET_SCHEME } from './constants.js';
import { rangeErrorAt, TrafficSplitClosedError, typeErrorAt } from './errors.js';
import { ConnectivityState, defaultAuthorityOf, Status } from './grpc.js';
import { register } from './register.js';
import { registerSplit, unregisterSplit } from './resolver.js';
import { SplitState, type SplitStateEvent } from './split-state.js';
import type { CountersMark } from './counters.js';
import { createInterceptor, routeOptions, type RouteRequest } from './interceptor.js';
import { rendezvousPick, subsetSeeds } from './sticky-hash.js';
import { startRollout, type Rollout, type RolloutOptions } from './rollout.js';
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
}

export type ConnectivityStateName = keyof typeof ConnectivityState;
export type StatusName = keyof typeof Status;

/** Figures for one subset, for the split's lifetime. */
export interface SubsetStats {
  weight: number;
  target: string;
  /** The least ready state across the split's channels: READY only when READY in all. */
  state: ConnectivityStateName;
  /** How many channels see the subset in each state. */
  channels: Partial<Record<ConnectivityStateName, number>>;
  /** Endpoints the subset's resolver returned. */
  endpoints: number;
  /** Calls started on the subset (each attempt of a retried call counts). */
  started: number;
  finished: number;
  inFlight: number;
  /** Finished calls by status code name. */
  codes: Partial<Record<StatusName, number>>;
  /** Latency of finished calls, from the stream's start to its status, in milliseconds
   * (null before any call finished); accurate to about 9%. */
  latencyMs: { p50: number | null; p90: number | null; p99: number | null };
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
  subsets: Record<string, SubsetStats>;
}

/** Events of a `TrafficSplit`. */
export interface TrafficSplitEvents {
  /** New weights are in force. */
  weights: [change: { weights: Record<string, number>; previous: Record<string, number> }];
  /** A subset changed state in one of the split's channels. */
  subsetState: [change: { subset: string; state: ConnectivityStateName }];
  /** The split was closed (once, from `close()`): rollouts and weights-file watchers stop. */
  close: [];
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
  /** Options to pass when building a client from `target`: they install `interceptor`. */
  readonly channelOptions: Readonly<ClientOptions>;
  /** The interceptor that turns `route()` call options into routing hints. */
  readonly interceptor: Interceptor;
  /** The subset names, in declaration order. */
  readonly subsets: readonly string[];
  private readonly targets: readonly string[];
  private readonly state: SplitState;
  private readonly id: string;
  private readonly seeds: Uint32Array;
  /** Every subset index: the candidates of `subsetFor()`. */
  private readonly allSubsets: Int32Array;
  private readonly createdAt = Date.now();

  constructor(options: TrafficSplitOptions) {
    super();
    const raw = requireObject(options, 'options', 'an object with "subsets" and "weights"');
    const config = parseSplitConfig(raw, ['name', 'authority', 'retryOnOtherSubset', 'scheduleSeed']);
    const retryOnOtherSubset = raw['retryOnOtherSubset'] ?? false;
    if (typeof retryOnOtherSubset !== 'boolean') throw typeErrorAt('retryOnOtherSubset', 'a boolean', retryOnOtherSubset);
    this.name = parseName(raw['name']);
    const authority = parseAuthority(raw['authority']) ?? defaultAuthorityOf(config.targets[0]!);
    this.subsets = config.subsetNames;
    this.targets = config.targets;
    const seed = raw['scheduleSeed'];
    if (seed !== undefined && typeof seed !== 'number') throw typeErrorAt('scheduleSeed', 'a safe integer', seed);
    if (seed !== undefined && !Number.isSafeInteger(seed)) throw rangeErrorAt('scheduleSeed', 'a safe integer', seed);
    this.state = new SplitState(this.name, config.subsetNames, config.weights, (event) => this.forward(event), seed as number | undefined);
    this.id = `${this.name}-${nextSplitNumber++}`;
    this.target = `${TARGET_SCHEME}:///${this.id}`;
    this.interceptor = createInterceptor({
      token: this.state.token,
      subsetNames: this.subsets,
      retryOnOtherSubset,
      attempts: this.state.attempts,
    });
    // The pickers must look for the attempt ids the interceptor stamps.
    if (retryOnOtherSubset) this.state.armRoutes();
    this.channelOptions = Object.freeze({ interceptors: [this.interceptor] });
    this.seeds = subsetSeeds(this.subsets);
    this.allSubsets = Int32Array.from(this.subsets.keys());
    register();
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
      const codes: Partial<Record<StatusName, number>> = {};
      for (const [code, count] of figures.codes) codes[Status[code] as StatusName] = count;
      subsets[name] = {
        weight: this.state.weights[i]!,
        target: this.targets[i]!,
        state: ConnectivityState[this.state.subsetState(i)] as ConnectivityStateName,
        channels: this.state.subsetStateCounts(i),
        endpoints: this.state.subsetEndpointCount(i),
        started: figures.started,
        finished: figures.finished,
        inFlight: this.state.counters.started[i]! - this.state.counters.finished[i]!,
        codes,
        latencyMs: figures.latencyMs,
      };
    });
    return {
      name: this.name,
      target: this.target,
      closed: this.state.closed,
      periodMs: Date.now() - (since?.at ?? this.createdAt),
      weights: this.getWeights(),
      channels: this.state.channelCount,
      subsets,
    };
  }

  /** Marks the counters now; pass the mark to `stats({ since })`. */
  mark(): StatsMark {
    return this.state.counters.mark();
  }

  /**
   * Call options that route one call: `{ subset }` pins it to that subset (any weight, failing
   * with UNAVAILABLE naming the subset if it has no READY endpoint), `{ key }` gives it a
   * sticky key. Needs a client built with `channelOptions` (or `interceptor`).
   * @example client.getReport(request, split.route({ subset: 'v2' }), callback);
   */
  route(route: RouteRequest): CallOptions {
    if (this.state.closed) throw new TrafficSplitClosedError(this.name, 'route()');
    const raw = requireObject(route, 'route', 'an object with "subset" or "key"');
    const hasSubset = raw['subset'] !== undefined;
    if (hasSubset === (raw['key'] !== undefined)) throw typeErrorAt('route', 'exactly one of "subset" and "key"', route);
    if (hasSubset && !this.subsets.includes(raw['subset'] as string)) {
      throw typeErrorAt('route.subset', `one of the subsets ${this.subsets.join(', ')}`, raw['subset']);
    }
    if (!hasSubset && typeof raw['key'] !== 'string') throw typeErrorAt('route.key', 'a string', raw['key']);
    this.state.armRoutes();
    return routeOptions(route);
  }

  /**
   * The subset a sticky key maps to under the weights in force (every weighted subset counted,
   * whatever its state): for logs, previews and tests.
   */
  subsetFor(key: string): string {
    if (typeof key !== 'string') throw typeErrorAt('key', 'a string', key);
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
    this.state.close();
    this.emit('close');
  }

  private forward(event: SplitStateEvent): void {
    if (event.type === 'weights') {
      this.emit('weights', {
        weights: weightsToRecord(this.subsets, event.weights),
        previous: weightsToRecord(this.subsets, event.previous),
      });
    } else {
      const state = ConnectivityState[this.state.subsetState(event.subset)] as ConnectivityStateName;
      this.emit('subsetState', { subset: this.subsets[event.subset]!, state });
    }
  }
}

function parseName(raw: unknown): string {
  if (raw === undefined) return 'split';
  if (typeof raw !== 'string' || !SPLIT_NAME_PATTERN.test(raw)) throw typeErrorAt('name', `a string matching ${SPLIT_NAME_PATTERN}`, raw);
  return raw;
}

function parseAuthority(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw === '' || /[\s/]/.test(raw)) throw typeErrorAt('authority', 'a host[:port] string', raw);
  return raw;
}

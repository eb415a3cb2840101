/**
 * `TrafficSplit`: the public handle of one split. Channels built from `split.target` share its
 * live weights, its schedule and its counters.
 * @module
 */
import { EventEmitter } from 'node:events';
import { parseSplitConfig, requireObject, weightsToRecord, configToJson, type TrafficSplitConfigJson } from './config.js';
import { POLICY_NAME, TARGET_SCHEME } from './constants.js';
import { TrafficSplitClosedError, typeErrorAt } from './errors.js';
import { ConnectivityState, defaultAuthorityOf, Status, type ChannelOptions } from './grpc.js';
import { register } from './register.js';
import { registerSplit, unregisterSplit } from './resolver.js';
import { SplitState, type SplitStateEvent } from './split-state.js';

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
}

/** A plain, JSON-able snapshot. */
export interface SplitStats {
  name: string;
  target: string;
  closed: boolean;
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
}

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
  /** Options to pass when building a client or channel from `target`. */
  readonly channelOptions: Readonly<ChannelOptions>;
  /** The subset names, in declaration order. */
  readonly subsets: readonly string[];
  private readonly targets: readonly string[];
  private readonly state: SplitState;
  private readonly id: string;

  constructor(options: TrafficSplitOptions) {
    super();
    const raw = requireObject(options, 'options', 'an object with "subsets" and "weights"');
    const config = parseSplitConfig(raw, ['name', 'authority']);
    this.name = parseName(raw['name']);
    const authority = parseAuthority(raw['authority']) ?? defaultAuthorityOf(config.targets[0]!);
    this.subsets = config.subsetNames;
    this.targets = config.targets;
    this.state = new SplitState(this.name, config.subsetNames, config.weights, (event) => this.forward(event));
    this.id = `${this.name}-${nextSplitNumber++}`;
    this.target = `${TARGET_SCHEME}:///${this.id}`;
    this.channelOptions = Object.freeze({});
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

  /** A plain, JSON-able snapshot of weights, states and call counts per subset. */
  stats(): SplitStats {
    const { counters } = this.state;
    const subsets: Record<string, SubsetStats> = {};
    this.subsets.forEach((name, i) => {
      const codes: Partial<Record<StatusName, number>> = {};
      for (const [code, count] of counters.codesOf(i)) codes[Status[code] as StatusName] = count;
      const started = counters.started[i]!;
      const finished = counters.finished[i]!;
      subsets[name] = {
        weight: this.state.weights[i]!,
        target: this.targets[i]!,
        state: ConnectivityState[this.state.subsetState(i)] as ConnectivityStateName,
        channels: this.state.subsetStateCounts(i),
        endpoints: this.state.subsetEndpointCount(i),
        started,
        finished,
        inFlight: started - finished,
        codes,
      };
    });
    return {
      name: this.name,
      target: this.target,
      closed: this.state.closed,
      weights: this.getWeights(),
      channels: this.state.channelCount,
      subsets,
    };
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

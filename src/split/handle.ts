/**
 * The narrow interface of a split that the operations (rollout, admin endpoint, weights file,
 * metrics, telemetry) are written against: the handle's public methods they use, nothing of its
 * internals. `TrafficSplit` implements it; a test double can too.
 * @module
 */
import type { MirrorOptions, MirrorSettings } from '../policy/mirror/mirror-options.js';
import type { CallEndedListener, SetWeightsOptions, SplitStats, StatsMark, TrafficSplitEvents } from './types.js';

/** A listener of one of the split's events. */
type Listener<K extends keyof TrafficSplitEvents> = (...args: TrafficSplitEvents[K]) => void;

export interface SplitHandle {
  readonly name: string;
  /** The channel target of the split. */
  readonly target: string;
  /** The subset names, in declaration order. */
  readonly subsets: readonly string[];
  readonly closed: boolean;
  /** Replaces all weights; throws on invalid weights, leaving those in force. A handle whose
   * weights are kept elsewhere (a fleet's, in etcd) may return a promise that settles once the
   * change is in force in this process; it must never leave that promise's rejection unhandled. */
  setWeights(weights: Record<string, number>, options?: SetWeightsOptions): void | Promise<unknown>;
  /** The split's weights, or those that apply to the calls of `method`. */
  getWeights(method?: string): Record<string, number>;
  /** Replaces every method-weight override; throws on invalid input, leaving those in force. */
  setMethodWeights(methods: Record<string, Record<string, number>>): void;
  getMethodWeights(): Record<string, Record<string, number>>;
  stats(options?: { since?: StatsMark }): SplitStats;
  /** Puts shadow traffic in force (or none); throws on invalid options, leaving the mirror in force. */
  setMirror(options: MirrorOptions | null): void;
  getMirror(): MirrorSettings | null;
  mark(): StatsMark;
  /**
   * The feed of answered attempts, for judges that look at every call: `listener` is called
   * once for each attempt counted in `stats().subsets[subset].finished`, as it is counted, with
   * its subset, method, status code and stream figures (see `CallEnded`). Returns the function
   * that removes it. A listener that throws is reported once (a grpc-js ERROR log line) and
   * never reaches the call. With no listener, nothing is built per call. A hook of the library's
   * operations: its record may gain fields in a minor version.
   */
  onCallEnded(listener: CallEndedListener): () => void;
  on<K extends keyof TrafficSplitEvents>(event: K, listener: Listener<K>): unknown;
  once<K extends keyof TrafficSplitEvents>(event: K, listener: Listener<K>): unknown;
  off<K extends keyof TrafficSplitEvents>(event: K, listener: Listener<K>): unknown;
}

/**
 * Where telemetry attaches to a split, without importing any telemetry library: a slot read by
 * the split's pipeline (per call, in the caller's context) and a listener of finished attempts
 * on its counters. Both cost one null check per call while nothing is attached. The operations
 * layer sees only `TelemetryPort`, never the split's state.
 * @module
 */
import type { SplitState } from '../balancer/split-state.js';
import { OTHER_METHOD } from '../../algorithms/method-names.js';

/** Called once per finished attempt: subset index, status code, duration, the slot of the
 * call's method (`TelemetryPort.methodName()` names it), and whether the call is a stream. */
export type FinishListener = (
  subset: number,
  code: number,
  durationMs: number,
  method: number,
  streaming: boolean,
) => void;

/** Called as a stream's messages arrive: at its first (`gap` false, `ms` from its attempt's start)
 * and at each later one (`gap` true, `ms` since the message before), with the subset index and
 * the call's method slot. */
export type StreamMessageListener = (subset: number, gap: boolean, ms: number, method: number) => void;

/**
 * Called once per call, synchronously in the caller's context (where its span is active):
 * returns the function to tell which subset served the call (called as each attempt starts, with
 * its subset), or null to stay out of the call.
 */
export type SubsetObserver = () => ((subset: number) => void) | null;

/** What telemetry may see and attach to of one split. */
export interface TelemetryPort {
  readonly splitName: string;
  readonly closed: boolean;
  /** Adds a listener of finished attempts; returns the function that removes it. */
  onAttemptFinished(listener: FinishListener): () => void;
  /** Adds a listener of streams' messages; returns the function that removes it. */
  onStreamMessage(listener: StreamMessageListener): () => void;
  /** Installs the per-call subset observer (one at a time); returns the function that removes it. */
  observeCallSubsets(observer: SubsetObserver): () => void;
  /** The name of a method slot of a `FinishListener`, as `stats()` names it; `other` for -1
   * (per-method figures off). */
  methodName(method: number): string;
}

/** The port's own slots, kept beside it for the split's pipeline. */
export class SplitTelemetryPort implements TelemetryPort {
  /** Set while a subset observer is installed; read once per call. */
  callObserver: SubsetObserver | null = null;
  readonly finishListeners = new Set<FinishListener>();
  readonly streamListeners = new Set<StreamMessageListener>();

  constructor(private readonly state: SplitState) {}

  get splitName(): string {
    return this.state.name;
  }

  get closed(): boolean {
    return this.state.closed;
  }

  onAttemptFinished(listener: FinishListener): () => void {
    const listeners = this.finishListeners;
    listeners.add(listener);
    // The counters call out only while there is a listener.
    this.state.counters.finishObserver = (subset, code, durationMs, method, streaming) => {
      for (const each of listeners) each(subset, code, durationMs, method, streaming);
    };
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.state.counters.finishObserver = null;
    };
  }

  onStreamMessage(listener: StreamMessageListener): () => void {
    const listeners = this.streamListeners;
    listeners.add(listener);
    this.state.counters.streamObserver = (subset, gap, ms, method) => {
      for (const each of listeners) each(subset, gap, ms, method);
    };
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.state.counters.streamObserver = null;
    };
  }

  methodName(method: number): string {
    return this.state.counters.methods?.names.names[method] ?? OTHER_METHOD;
  }

  observeCallSubsets(observer: SubsetObserver): () => void {
    this.callObserver = observer;
    return () => {
      if (this.callObserver === observer) this.callObserver = null;
    };
  }
}

const portsBySplit = new WeakMap<object, SplitTelemetryPort>();

/** Makes and registers the telemetry port of `split` (see `telemetryPortOf`). */
export function createTelemetryPort(split: object, state: SplitState): SplitTelemetryPort {
  const port = new SplitTelemetryPort(state);
  portsBySplit.set(split, port);
  return port;
}

/** The telemetry port of a split, or undefined for an object that is not one. */
export function telemetryPortOf(split: object): TelemetryPort | undefined {
  return portsBySplit.get(split);
}

/** For tests: the port's slots, to check that stopping telemetry empties them. */
export function telemetrySlotsOf(
  split: object,
): { observing: boolean; finishListeners: number; streamListeners: number; countersObserved: boolean } | undefined {
  const port = portsBySplit.get(split);
  if (port === undefined) return undefined;
  const counters = (port as unknown as { state: SplitState }).state.counters;
  return {
    observing: port.callObserver !== null,
    finishListeners: port.finishListeners.size,
    streamListeners: port.streamListeners.size,
    countersObserved: counters.finishObserver !== null || counters.streamObserver !== null,
  };
}

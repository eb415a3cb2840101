/**
 * Where telemetry attaches to a split, without importing any telemetry library: a slot in the
 * split's interceptor (per call, in the caller's context) and a listener of finished attempts
 * on its counters. Both cost one null check per call while nothing is attached. The operations
 * layer sees only `TelemetryPort`, never the split's state.
 * @module
 */
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import type { ConnectivityState } from '../grpc/grpc.js';
import { hintOf, withHint, type AttemptRecord } from './hints.js';
import type { SplitState } from '../balancer/split-state.js';

/** Called once per finished attempt: subset index, status code, duration. */
export type FinishListener = (subset: number, code: number, durationMs: number) => void;

/**
 * Called once per call, synchronously in the caller's context (where its span is active):
 * returns the function to tell which subset served the call (called when its headers or status
 * arrive, again for a retry on another subset), or null to stay out of the call.
 */
export type SubsetObserver = () => ((subset: number) => void) | null;

/** What telemetry may see and attach to of one split. */
export interface TelemetryPort {
  readonly splitName: string;
  readonly closed: boolean;
  /** Attempts started on `subset`, for the split's lifetime. */
  startedAttempts(subset: number): number;
  /** The weight in force for `subset`. */
  weight(subset: number): number;
  /** Streams open on `subset` now, across the split's channels. */
  openStreams(subset: number): number;
  /** Streams the split ended on `subset` to follow its weights or its age limit. */
  rebalancedStreams(subset: number): number;
  /** The least ready state of `subset` across the split's channels. */
  subsetState(subset: number): ConnectivityState;
  /** Adds a listener of finished attempts; returns the function that removes it. */
  onAttemptFinished(listener: FinishListener): () => void;
  /** Installs the per-call subset observer (one at a time); returns the function that removes it. */
  observeCallSubsets(observer: SubsetObserver): () => void;
}

/** The port's own slots, kept beside it for the split's interceptor. */
class SplitTelemetryPort implements TelemetryPort {
  /** Set while a subset observer is installed; read once per call. */
  callObserver: SubsetObserver | null = null;
  readonly finishListeners = new Set<FinishListener>();

  constructor(private readonly state: SplitState) {}

  get splitName(): string {
    return this.state.name;
  }

  get closed(): boolean {
    return this.state.closed;
  }

  startedAttempts(subset: number): number {
    return this.state.counters.started[subset]!;
  }

  weight(subset: number): number {
    return this.state.weights[subset]!;
  }

  openStreams(subset: number): number {
    return this.state.streams.openOn(subset);
  }

  rebalancedStreams(subset: number): number {
    return this.state.counters.rebalanced[subset]!;
  }

  subsetState(subset: number): ConnectivityState {
    return this.state.channels.subsetState(subset);
  }

  onAttemptFinished(listener: FinishListener): () => void {
    const listeners = this.finishListeners;
    listeners.add(listener);
    // The counters call out only while there is a listener.
    this.state.counters.finishObserver = (subset, code, durationMs) => {
      for (const each of listeners) each(subset, code, durationMs);
    };
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.state.counters.finishObserver = null;
    };
  }

  observeCallSubsets(observer: SubsetObserver): () => void {
    // Pickers only read routing hints (and so record attempts) once routes are armed.
    this.state.armRoutes();
    this.callObserver = observer;
    return () => {
      if (this.callObserver === observer) this.callObserver = null;
    };
  }
}

const portsBySplit = new WeakMap<object, SplitTelemetryPort>();

/**
 * Returns the interceptor a split installs: `routing` (its own), with the telemetry slot inside
 * it, so an observed call sees the routing hint the split's interceptor set. Registers the
 * split's port for `telemetryPortOf`.
 */
export function interceptorWithTelemetry(split: object, state: SplitState, routing: Interceptor): Interceptor {
  const port = new SplitTelemetryPort(state);
  portsBySplit.set(split, port);
  return (options, nextCall) => {
    const observer = port.callObserver;
    const tell = observer === null ? null : observer();
    return tell === null ? routing(options, nextCall) : routing(options, (inner) => observeSubset(inner, nextCall, state, tell));
  };
}

/** The telemetry port of a split, or undefined for an object that is not one. */
export function telemetryPortOf(split: object): TelemetryPort | undefined {
  return portsBySplit.get(split);
}

/** For tests: the port's slots, to check that stopping telemetry empties them. */
export function telemetrySlotsOf(split: object): { observing: boolean; finishListeners: number; countersObserved: boolean } | undefined {
  const port = portsBySplit.get(split);
  if (port === undefined) return undefined;
  const countersObserved = (port as unknown as { state: SplitState }).state.counters.finishObserver !== null;
  return { observing: port.callObserver !== null, finishListeners: port.finishListeners.size, countersObserved };
}

/**
 * One attempt of an observed call: the subset the picker chose is read from the call's attempt
 * record when the headers or the status arrive. The same `tell` serves every attempt: a retry on
 * another subset starts from a grpc-js callback, where the caller's context is not guaranteed.
 */
function observeSubset(options: Parameters<Interceptor>[0], nextCall: Parameters<Interceptor>[1], state: SplitState, tell: (subset: number) => void): InterceptingCall {
  return new InterceptingCall(nextCall(options), {
    // The listener below gets each event with `next`, which passes it on to the caller's.
    start(metadata, _listener, next) {
      // The split's interceptor runs first: a routed or retried call has its hint already, and
      // a retry attempt its own record. Otherwise the call gets a hint whose only use is the
      // record the picker fills in (hints never leave the process, see hints.ts).
      let sent = metadata;
      let hint = hintOf(metadata);
      if (hint === undefined) {
        hint = { token: state.token, splitName: state.name, retry: false, intercepted: true };
        sent = withHint(metadata, hint);
      }
      const record: AttemptRecord = hint.attempt ?? { subset: -1, strict: false, noOtherSubset: false };
      hint.attempt = record;
      const report = (): void => {
        if (record.subset >= 0) tell(record.subset);
      };
      next(sent, {
        onReceiveMetadata: (received, nextListener) => {
          report();
          nextListener(received);
        },
        onReceiveStatus: (status, nextListener) => {
          report();
          nextListener(status);
        },
      });
    },
  });
}

/**
 * The two places where telemetry can attach to a split, without importing any telemetry library:
 * a slot in the split's interceptor (per call, in the caller's context) and the split's state
 * (counters, weights, subset states). Both cost one null check per call while nothing is
 * attached.
 * @module
 */
import type { Interceptor } from '@grpc/grpc-js';
import type { SplitState } from './split-state.js';

/** An interceptor that runs inside the split's own one, so it sees the routing hint it set. */
export type InnerInterceptor = (options: Parameters<Interceptor>[0], nextCall: Parameters<Interceptor>[1]) => ReturnType<Interceptor>;

/**
 * Called once per call, synchronously in the caller's context, before anything else: returns the
 * interceptor for that call's attempts (the first and any retry on another subset), or null to
 * stay out of the call.
 */
export type CallObserver = () => InnerInterceptor | null;

/** What telemetry may use of one split. */
export interface SplitHooks {
  readonly state: SplitState;
  /** Set while tracing is on. */
  callObserver: CallObserver | null;
  /** Told of every finished attempt: subset index, status code, duration. */
  readonly finishListeners: Set<FinishListener>;
}

export type FinishListener = (subset: number, code: number, durationMs: number) => void;

const hooksBySplit = new WeakMap<object, SplitHooks>();

/**
 * Returns the interceptor a split installs: `routing` (its own), with the observer slot inside
 * it. Registers the split's hooks for `hooksOf`.
 */
export function interceptorWithHooks(split: object, state: SplitState, routing: Interceptor): Interceptor {
  const hooks: SplitHooks = { state, callObserver: null, finishListeners: new Set() };
  hooksBySplit.set(split, hooks);
  return (options, nextCall) => {
    const observer = hooks.callObserver;
    const forCall = observer === null ? null : observer();
    return forCall === null ? routing(options, nextCall) : routing(options, (inner) => forCall(inner, nextCall));
  };
}

/** The hooks of a split, or undefined for an object that is not one. */
export function hooksOf(split: object): SplitHooks | undefined {
  return hooksBySplit.get(split);
}

/** Adds a listener of finished attempts; the counters call out only while there is one. */
export function addFinishListener(hooks: SplitHooks, listener: FinishListener): () => void {
  const listeners = hooks.finishListeners;
  listeners.add(listener);
  hooks.state.counters.finishObserver = (subset, code, durationMs) => {
    for (const each of listeners) each(subset, code, durationMs);
  };
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) hooks.state.counters.finishObserver = null;
  };
}

/**
 * Per-call routing through call options. `split.route({ subset })` / `split.route({ key })`
 * returns call options that the split's interceptor turns into a routing hint in the call's
 * metadata (see hints.ts); the picker reads the hint, removes it from the metadata that is sent,
 * and routes.
 * @module
 */
import { encodeHint, HINT_KEY, type RoutingHint } from './hints.js';
import { InterceptingCall, status, type CallOptions, type Interceptor, type Metadata, type StatusObject } from '@grpc/grpc-js';

/** Where the picker notes the subset an attempt went to, and whether it was routed strictly
 * (explicit route or rule: those are never retried elsewhere). */
export interface AttemptRecord {
  subset: number;
  strict: boolean;
}

/** What the interceptor needs of its split. */
export interface InterceptorContext {
  readonly token: string;
  readonly subsetNames: readonly string[];
  /** Retry a unary call that failed UNAVAILABLE before any response once, on another subset. */
  readonly retryOnOtherSubset: boolean;
  /** Attempts in flight, by id; shared with the pickers. */
  readonly attempts: Map<string, AttemptRecord>;
}

const ROUTE_OPTION = Symbol.for('grpc-traffic-split.route');

/** What `split.route()` accepts: exactly one of the two. */
export type RouteRequest = { subset: string; key?: never } | { key: string; subset?: never };

interface RouteOption {
  readonly subset?: string;
  readonly key?: string;
}

/** Call options carrying a route; merge them into your own with spread. */
export function routeOptions(route: RouteRequest): CallOptions {
  const option: RouteOption = route.subset !== undefined ? { subset: route.subset } : { key: route.key };
  return { [ROUTE_OPTION]: option } as CallOptions;
}

let nextAttemptId = 1;

/**
 * The interceptor of one split. Calls without a route pass straight through (no wrapper, no
 * metadata work) unless retries on another subset are on and the call is unary.
 */
export function createInterceptor(context: InterceptorContext): Interceptor {
  return (options, nextCall) => {
    const route = (options as unknown as Record<symbol, RouteOption | undefined>)[ROUTE_OPTION];
    const method = options.method_definition;
    const retry = context.retryOnOtherSubset && !method.requestStream && !method.responseStream && route?.subset === undefined;
    // grpc-js only uses the call's interface, so the next call can be handed back unwrapped.
    if (route === undefined && !retry) return nextCall(options) as InterceptingCall;
    let sentMessage: unknown;
    let retryCall: ReturnType<typeof nextCall> | null = null;
    let cancelled = false;
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        const hint: RoutingHint = { ...(route?.subset !== undefined ? { subset: route.subset } : {}), ...(route?.key !== undefined ? { key: route.key } : {}) };
        if (!retry) {
          metadata.set(HINT_KEY, encodeHint(context.token, hint));
          return next(metadata, listener);
        }
        const id = String(nextAttemptId++);
        const record: AttemptRecord = { subset: -1, strict: false };
        context.attempts.set(id, record);
        metadata.set(HINT_KEY, encodeHint(context.token, { ...hint, attempt: id }));
        // Response headers are held back until a message or the status: grpc-js servers send
        // them as soon as a call arrives, so they do not mean the call was answered, and a
        // retried call must not show the caller two sets of headers.
        let heldHeaders: Metadata | null = null;
        // grpc-js hands a unary call that ends without a message a `null` message before its
        // status; that is no answer either, and is held back the same way.
        let heldEmptyMessage = false;
        let answered = false;
        // A listener whose methods take one argument is called directly (no `next`), and
        // forwards to the downstream listener itself.
        next(metadata, {
          onReceiveMetadata: (received: Metadata) => {
            heldHeaders = received;
          },
          onReceiveMessage: (message: unknown) => {
            if (message === null) {
              heldEmptyMessage = true;
              return;
            }
            answered = true;
            if (heldHeaders !== null) listener.onReceiveMetadata(heldHeaders);
            heldHeaders = null;
            listener.onReceiveMessage(message);
          },
          onReceiveStatus: (result: StatusObject) => {
            context.attempts.delete(id);
            const eligible = result.code === status.UNAVAILABLE && !answered && !cancelled && record.subset >= 0 && !record.strict;
            if (!eligible || sentMessage === undefined) {
              if (heldHeaders !== null) listener.onReceiveMetadata(heldHeaders);
              if (heldEmptyMessage) listener.onReceiveMessage(null);
              return listener.onReceiveStatus(result);
            }
            // Nothing reached the caller yet, so the second attempt's events can stand in for
            // the first's. Its metadata is a fresh copy without the attempt id.
            const again = metadata.clone();
            again.set(HINT_KEY, encodeHint(context.token, { ...hint, avoid: context.subsetNames[record.subset]! }));
            retryCall = nextCall(options);
            retryCall.start(again, {
              onReceiveMetadata: (m) => listener.onReceiveMetadata(m),
              onReceiveMessage: (m) => listener.onReceiveMessage(m),
              onReceiveStatus: (s) => listener.onReceiveStatus(s),
            });
            retryCall.sendMessage(sentMessage);
            retryCall.halfClose();
          },
        });
      },
      sendMessage(message, next) {
        sentMessage = message;
        next(message);
      },
      cancel(next) {
        cancelled = true;
        retryCall?.cancelWithStatus(status.CANCELLED, 'Cancelled on client');
        next();
      },
    });
  };
}

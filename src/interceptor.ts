/**
 * Per-call routing through call options, and the retry on another subset. `split.route()` returns
 * call options carrying a route; the split's call guard (call-guard.ts) or its interceptor turns
 * the route into a hint attached to the call (see hints.ts), which only the split's picker reads.
 * @module
 */
import { withHint, hintOf, type AttemptRecord, type CallHint } from './hints.js';
import { InterceptingCall, status, type CallOptions, type Interceptor, type Metadata, type StatusObject } from '@grpc/grpc-js';

/** What one split's interceptor and call guard need of it. */
export interface InterceptorContext {
  readonly token: string;
  readonly splitName: string;
  /** `split.target`: the only channel target on which the split's routes can be honoured. */
  readonly target: string;
  /** Retry a unary call that failed UNAVAILABLE before any response once, on another subset. */
  readonly retryOnOtherSubset: boolean;
}

const ROUTE_OPTION = Symbol.for('grpc-traffic-split.route');

/** What `split.route()` accepts: exactly one of the two. */
export type RouteRequest = { subset: string; key?: never } | { key: string; subset?: never };

/** A route, with the split it belongs to. */
export interface RouteOption {
  readonly token: string;
  readonly splitName: string;
  readonly target: string;
  readonly subset?: string;
  readonly key?: string;
}

/** Call options carrying a route of the split `owner`; merge them into your own with spread. */
export function routeOptions(owner: InterceptorContext, route: RouteRequest): CallOptions {
  const option: RouteOption = {
    token: owner.token,
    splitName: owner.splitName,
    target: owner.target,
    ...(route.subset !== undefined ? { subset: route.subset } : { key: route.key }),
  };
  return { [ROUTE_OPTION]: option } as CallOptions;
}

/** The route in `options`, if any. */
export function routeOf(options: object): RouteOption | undefined {
  return (options as Record<symbol, RouteOption | undefined>)[ROUTE_OPTION];
}

/** Whether the split retries this call on another subset: unary calls not pinned to a subset. */
export function retries(context: InterceptorContext, method: { requestStream: boolean; responseStream: boolean }, route: RouteOption | undefined): boolean {
  return context.retryOnOtherSubset && !method.requestStream && !method.responseStream && route?.subset === undefined;
}

/** The hint of one call: the route's split owns it when there is a route. */
export function makeHint(context: InterceptorContext, route: RouteOption | undefined, retry: boolean): CallHint {
  return {
    token: route?.token ?? context.token,
    splitName: route?.splitName ?? context.splitName,
    ...(route?.subset !== undefined ? { subset: route.subset } : {}),
    ...(route?.key !== undefined ? { key: route.key } : {}),
    retry,
    intercepted: false,
  };
}

function newRecord(): AttemptRecord {
  return { subset: -1, strict: false, noOtherSubset: false };
}

/**
 * The interceptor of one split. Calls without a route pass straight through (no wrapper, no
 * metadata work) unless retries on another subset are on and the call is unary. It must sit
 * last in a client's list (nearest the channel), so that other interceptors see one call even
 * when it is retried: `split.withChannelOptions()` puts it there.
 */
export function createInterceptor(context: InterceptorContext): Interceptor {
  return (options, nextCall) => {
    const route = routeOf(options);
    const retry = retries(context, options.method_definition, route);
    // grpc-js only uses the call's interface, so the next call can be handed back unwrapped.
    if (route === undefined && !retry) return nextCall(options) as InterceptingCall;
    let sentMessage: unknown;
    let retryCall: ReturnType<typeof nextCall> | null = null;
    let cancelled = false;
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        // The call guard, when the client has it, attached the hint already.
        let hint = hintOf(metadata);
        let sent = metadata;
        if (hint === undefined) {
          hint = makeHint(context, route, retry);
          sent = withHint(metadata, hint);
        }
        hint.intercepted = true;
        if (!retry) return next(sent, listener);
        const record = newRecord();
        hint.attempt = record;
        // Response headers are held back until a message or the status: grpc-js servers send
        // them as soon as a call arrives, so they do not mean the call was answered, and a
        // retried call must not show the caller two sets of headers.
        let heldHeaders: Metadata | null = null;
        // grpc-js hands a unary call that ends without a message a `null` message before its
        // status; that is no answer either, and is held back the same way.
        let heldEmptyMessage = false;
        let answered = false;
        const endAsFirst = (result: StatusObject): void => {
          if (heldHeaders !== null) listener.onReceiveMetadata(heldHeaders);
          if (heldEmptyMessage) listener.onReceiveMessage(null);
          listener.onReceiveStatus(result);
        };
        // A listener whose methods take one argument is called directly (no `next`), and
        // forwards to the downstream listener itself.
        next(sent, {
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
            const eligible = result.code === status.UNAVAILABLE && !answered && !cancelled && record.subset >= 0 && !record.strict;
            if (!eligible || sentMessage === undefined) return endAsFirst(result);
            // Nothing reached the caller yet, so the second attempt's events can stand in for
            // the first's. When the picker finds no other READY weighted subset it drops the
            // second attempt at once, and the caller gets the first attempt's failure as is.
            const again = newRecord();
            retryCall = nextCall(options);
            retryCall.start(withHint(metadata, { ...hint, attempt: again, avoid: record.subset }), {
              onReceiveMetadata: (m) => listener.onReceiveMetadata(m),
              onReceiveMessage: (m) => listener.onReceiveMessage(m),
              onReceiveStatus: (s) => (again.noOtherSubset ? endAsFirst(result) : listener.onReceiveStatus(s)),
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

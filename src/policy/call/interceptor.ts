/**
 * Per-call routing through call options, and the retry on another subset. `split.route()` returns
 * call options carrying a route; the split's call guard (call-guard.ts) or its interceptor turns
 * the route into a hint attached to the call (see hints.ts), which only the split's picker reads.
 * @module
 */
import { withHint, hintOf, type AttemptRecord, type CallHint } from './hints.js';
import { refusingCredentials, unhonouredRouteDetails } from './misuse.js';
import {
  InterceptingCall,
  status,
  type CallCredentials,
  type CallOptions,
  type InterceptingListener,
  type Interceptor,
  type InterceptorOptions,
  type Metadata,
  type NextCall,
  type StatusObject,
} from '@grpc/grpc-js';

/** What `nextCall()` returns: the next interceptor's call, or the channel's. */
type InterceptingCallInterface = ReturnType<NextCall>;

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
  /** The call credentials the options carry until a part of the split takes the route. */
  readonly refusal: CallCredentials;
  /** The application's call credentials given to `route()`: composed with the refusal until the
   * route is taken, then in its place. */
  readonly own?: CallCredentials;
}

/**
 * Call options carrying a route of the split `owner`; merge them into your own with spread. They
 * also carry call credentials that fail the call, which the split's call guard or interceptor
 * takes off when it takes the route: on a client with neither, nothing would see the route, and
 * the call must fail rather than go wherever the weights send it (see misuse.ts).
 */
export function routeOptions(owner: InterceptorContext, route: RouteRequest, callOptions: CallOptions = {}): CallOptions {
  const refusal = refusingCredentials(unhonouredRouteDetails(owner.splitName));
  // Credentials spread over the options would replace the refusal; given here, they keep it.
  const own = callOptions.credentials;
  const option: RouteOption = {
    token: owner.token,
    splitName: owner.splitName,
    target: owner.target,
    ...(route.subset !== undefined ? { subset: route.subset } : { key: route.key }),
    refusal: own === undefined ? refusal : own.compose(refusal),
    ...(own === undefined ? {} : { own }),
  };
  return { ...callOptions, [ROUTE_OPTION]: option, credentials: option.refusal } as CallOptions;
}

/** The route in `options`, if any. */
export function routeOf(options: object): RouteOption | undefined {
  return (options as Record<symbol, RouteOption | undefined>)[ROUTE_OPTION];
}

/** `options` without their route's refusal (the same object when they do not carry it): with the
 * call credentials given to `route()` in its place, if any. Call credentials of the
 * application's own, set over the refusal, are kept. */
export function withoutRouteRefusal<T extends CallOptions>(options: T): T {
  const credentials = options.credentials;
  const route = routeOf(options);
  if (credentials === undefined || route === undefined || route.refusal !== credentials) return options;
  const { credentials: _refusal, ...rest } = options;
  return (route.own === undefined ? rest : { ...rest, credentials: route.own }) as T;
}

/** `inner`, given the call's options without their route's refusal: the split's interceptor, as
 * its outermost layer, takes the route (see misuse.ts). */
export function withRoutesTaken(inner: Interceptor): Interceptor {
  return (options, nextCall) => inner(withoutRouteRefusal(options), nextCall);
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
    if (!retry) {
      return new InterceptingCall(nextCall(options), {
        start: (metadata, listener, next) => next(hinted(context, route, false, metadata).sent, listener),
      });
    }
    return new RetryOnOtherSubset(context, options, nextCall, route).call;
  };
}

/** The call's metadata with its hint, and the hint (the call guard may have attached it). */
function hinted(context: InterceptorContext, route: RouteOption | undefined, retry: boolean, metadata: Metadata): { hint: CallHint; sent: Metadata } {
  const attached = hintOf(metadata);
  const hint = attached ?? makeHint(context, route, retry);
  const sent = attached === undefined ? withHint(metadata, hint) : metadata;
  hint.intercepted = true;
  return { hint, sent };
}

function newRecord(): AttemptRecord {
  return { subset: -1, strict: false, noOtherSubset: false };
}

/**
 * Where a retryable call stands:
 * - `FirstAttempt`: the first attempt runs and nothing has reached the caller; its response
 *   headers and its empty message (below) are held back.
 * - `Answered`: the first attempt delivered a message; the call can no longer be retried and
 *   its events pass through.
 * - `Retrying`: the first attempt failed UNAVAILABLE unanswered; a second attempt, picked away
 *   from the first one's subset, stands in for it and its events go to the caller.
 * - `Done`: the caller has its status.
 */
type Phase = 'FirstAttempt' | 'Answered' | 'Retrying' | 'Done';

/** One unary call that the split retries once on another subset. */
class RetryOnOtherSubset {
  /** What grpc-js gets back from the interceptor. */
  readonly call: InterceptingCall;
  private phase: Phase = 'FirstAttempt';
  private cancelled = false;
  private sentMessage: unknown = undefined;
  private retryCall: InterceptingCallInterface | null = null;
  /** Response headers are held back until a message or the status: grpc-js servers send them
   * as soon as a call arrives, so they do not mean the call was answered, and a retried call
   * must not show the caller two sets of headers. */
  private heldHeaders: Metadata | null = null;
  /** grpc-js hands a unary call that ends without a message a `null` message before its
   * status; that is no answer either, and is held back the same way. */
  private heldEmptyMessage = false;
  private readonly record = newRecord();

  constructor(
    private readonly context: InterceptorContext,
    private readonly options: InterceptorOptions,
    private readonly nextCall: NextCall,
    private readonly route: RouteOption | undefined,
  ) {
    this.call = new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => this.start(metadata, listener, next),
      sendMessage: (message, next) => {
        this.sentMessage = message;
        next(message);
      },
      cancel: (next) => {
        this.cancelled = true;
        if (this.phase === 'Retrying') this.retryCall?.cancelWithStatus(status.CANCELLED, 'Cancelled on client');
        next();
      },
    });
  }

  private start(metadata: Metadata, caller: InterceptingListener, next: (metadata: Metadata, listener: InterceptingListener) => void): void {
    const { hint, sent } = hinted(this.context, this.route, true, metadata);
    hint.attempt = this.record;
    // This listener forwards to the caller's listener itself and never uses a `next`, so it
    // behaves alike whether grpc-js calls it directly (its methods take one argument) or wraps it.
    next(sent, {
      onReceiveMetadata: (received: Metadata) => this.onFirstMetadata(received),
      onReceiveMessage: (message: unknown) => this.onFirstMessage(caller, message),
      onReceiveStatus: (result: StatusObject) => this.onFirstStatus(caller, metadata, hint, result),
    });
  }

  private onFirstMetadata(received: Metadata): void {
    this.heldHeaders = received;
  }

  private onFirstMessage(caller: InterceptingListener, message: unknown): void {
    if (message === null) {
      this.heldEmptyMessage = true;
      return;
    }
    this.phase = 'Answered';
    if (this.heldHeaders !== null) caller.onReceiveMetadata(this.heldHeaders);
    this.heldHeaders = null;
    caller.onReceiveMessage(message);
  }

  private onFirstStatus(caller: InterceptingListener, metadata: Metadata, hint: CallHint, result: StatusObject): void {
    const record = this.record;
    const eligible = result.code === status.UNAVAILABLE && this.phase === 'FirstAttempt' && !this.cancelled && record.subset >= 0 && !record.strict;
    if (!eligible || this.sentMessage === undefined) return this.endAsFirst(caller, result);
    // Nothing reached the caller yet, so the second attempt's events can stand in for the
    // first's. When the picker finds no other READY weighted subset it drops the second attempt
    // at once, and the caller gets the first attempt's failure as is.
    this.phase = 'Retrying';
    const again = newRecord();
    const retryCall = this.nextCall(this.options);
    this.retryCall = retryCall;
    retryCall.start(withHint(metadata, { ...hint, attempt: again, avoid: record.subset }), {
      onReceiveMetadata: (m) => caller.onReceiveMetadata(m),
      onReceiveMessage: (m) => caller.onReceiveMessage(m),
      onReceiveStatus: (s) => {
        if (again.noOtherSubset) return this.endAsFirst(caller, result);
        this.phase = 'Done';
        caller.onReceiveStatus(s);
      },
    });
    retryCall.sendMessage(this.sentMessage);
    retryCall.halfClose();
  }

  /** Ends the call with the first attempt's events, held ones included. */
  private endAsFirst(caller: InterceptingListener, result: StatusObject): void {
    this.phase = 'Done';
    if (this.heldHeaders !== null) caller.onReceiveMetadata(this.heldHeaders);
    if (this.heldEmptyMessage) caller.onReceiveMessage(null);
    caller.onReceiveStatus(result);
  }
}

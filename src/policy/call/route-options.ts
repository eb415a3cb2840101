/**
 * Per-call routing through call options: `split.route()` returns call options carrying a route
 * under the call slot; the split's call guard or its pipeline makes it the call's context
 * (call-context.ts), which only the split's picker reads.
 * @module
 */
import { CALL_SLOT, CallContext } from './call-context.js';
import { refusingCredentials, unhonouredRouteDetails } from './misuse.js';
import type { CallCredentials, CallOptions, InterceptorOptions } from '@grpc/grpc-js';

/** What one split's pipeline and call guard need of it. */
export interface InterceptorContext {
  readonly token: string;
  readonly splitName: string;
  /** `split.target`: the only channel target on which the split's routes can be honoured. */
  readonly target: string;
  /** Retry a unary call that failed UNAVAILABLE before any response once, on another subset. */
  readonly retryOnOtherSubset: boolean;
}

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
export function routeOptions(
  owner: InterceptorContext,
  route: RouteRequest,
  callOptions: CallOptions = {},
): CallOptions {
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
  return { ...callOptions, [CALL_SLOT]: option, credentials: option.refusal } as CallOptions;
}

/** What the call slot of call options holds: a route, or the context the call guard made. */
export function slotOf(options: object): RouteOption | CallContext | undefined {
  return (options as { [CALL_SLOT]?: RouteOption | CallContext })[CALL_SLOT];
}

/** The route in `options`, if any (the call guard's context carries it once it took it). */
export function routeOf(options: object): RouteOption | undefined {
  const slot = slotOf(options);
  return slot instanceof CallContext ? undefined : slot;
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

/** Whether the split retries a call of `method` on another subset: unary calls not pinned to
 * a subset. */
export function retries(
  context: InterceptorContext,
  method: InterceptorOptions['method_definition'],
  subset: string | undefined,
): boolean {
  return context.retryOnOtherSubset && !method.requestStream && !method.responseStream && subset === undefined;
}

/** The context of a new call of `owner`'s clients, with its route if it has one. */
export function newContext(
  owner: InterceptorContext,
  method: InterceptorOptions['method_definition'],
  route: RouteOption | undefined,
): CallContext {
  return new CallContext(route ?? owner, retries(owner, method, route?.subset), owner.retryOnOtherSubset, method.path);
}

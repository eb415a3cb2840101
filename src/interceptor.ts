/**
 * Per-call routing through call options. `split.route({ subset })` / `split.route({ key })`
 * returns call options that the split's interceptor turns into a routing hint in the call's
 * metadata; the picker reads the hint, removes it from the metadata that is sent, and routes.
 * Hints carry the split's random token, so a header forwarded from outside (or from another
 * split) is never taken for one.
 * @module
 */
import { InterceptingCall, type CallOptions, type Interceptor } from '@grpc/grpc-js';

/** Metadata key of an explicit subset hint (never reaches the server). */
export const SUBSET_HINT_KEY = 'x-traffic-split-subset';
/** Metadata key of a sticky key hint (never reaches the server). */
export const KEY_HINT_KEY = 'x-traffic-split-key';

const ROUTE_OPTION = Symbol.for('grpc-traffic-split.route');

/** What `split.route()` accepts: exactly one of the two. */
export type RouteRequest = { subset: string; key?: never } | { key: string; subset?: never };

interface RouteOption {
  readonly token: string;
  readonly subset?: string;
  readonly key?: string;
}

/** Call options carrying a route; merge them into your own with spread. */
export function routeOptions(token: string, route: RouteRequest): CallOptions {
  const option: RouteOption = route.subset !== undefined ? { token, subset: route.subset } : { token, key: route.key };
  return { [ROUTE_OPTION]: option } as CallOptions;
}

/** `<token>:<subset>`, and `<token>:<percent-encoded key>` (metadata values are ASCII). */
export function hintValue(token: string, text: string): string {
  return `${token}:${encodeURIComponent(text)}`;
}

/**
 * The interceptor of one split. Calls without a route pass straight through: no wrapper, no
 * metadata work.
 */
export function createInterceptor(): Interceptor {
  return (options, nextCall) => {
    const route = (options as unknown as Record<symbol, RouteOption | undefined>)[ROUTE_OPTION];
    // grpc-js only uses the call's interface, so the next call can be handed back unwrapped.
    if (route === undefined) return nextCall(options) as InterceptingCall;
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (route.subset !== undefined) metadata.set(SUBSET_HINT_KEY, hintValue(route.token, route.subset));
        else metadata.set(KEY_HINT_KEY, hintValue(route.token, route.key!));
        next(metadata, listener);
      },
    });
  };
}

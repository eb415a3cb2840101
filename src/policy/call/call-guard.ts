/**
 * The split's call guard: a grpc-js `callInvocationTransformer`, installed by
 * `split.channelOptions` beside the interceptor. It runs for every call of the client before any
 * interceptor, and is the one place that sees both a call's options and its channel, so it:
 * - attaches the hint of a routed call (so `route()` works even when the client's interceptor
 *   list was replaced), and marks unary calls the split would retry, so that a split's picker can
 *   fail them loudly when its interceptor is missing instead of silently not retrying;
 * - takes a route's own refusal off the call (see misuse.ts: `route()` options fail a call that
 *   no part of the split takes);
 * - refuses a routed call on a channel that is not its split's: the call fails with UNAVAILABLE
 *   before anything is sent (through call credentials that fail, which grpc-js runs after the
 *   pick and before the call goes on the wire), instead of silently going anywhere.
 * @module
 */
import type { CallInvocationTransformer } from '@grpc/grpc-js';
import { withHint } from './hints.js';
import { makeHint, retries, routeOf, withoutRouteRefusal, type InterceptorContext, type RouteOption } from './interceptor.js';
import { refusingCredentials } from './misuse.js';

/** The call guard of one split. A call with neither a route nor a retry to prepare is returned
 * as it is. */
export function createCallGuard(context: InterceptorContext): CallInvocationTransformer {
  return (properties) => {
    const route = routeOf(properties.callOptions);
    const retry = retries(context, properties.methodDefinition, route);
    if (route === undefined && !retry) return properties;
    if (route !== undefined) {
      const callOptions = withoutRouteRefusal(properties.callOptions);
      const channelTarget = properties.channel.getTarget();
      if (channelTarget !== route.target) {
        const refusal = refusingCredentials(wrongChannelDetails(route, channelTarget));
        const own = callOptions.credentials;
        return { ...properties, callOptions: { ...callOptions, credentials: own === undefined ? refusal : own.compose(refusal) } };
      }
      return { ...properties, callOptions, metadata: withHint(properties.metadata, makeHint(context, route, retry)) };
    }
    return { ...properties, metadata: withHint(properties.metadata, makeHint(context, route, retry)) };
  };
}

function wrongChannelDetails(route: RouteOption, channelTarget: string): string {
  return (
    `traffic_split: route() call options of split "${route.splitName}" used on a client of ${channelTarget}; ` +
    `they only work on clients built from the split's target ${route.target}`
  );
}

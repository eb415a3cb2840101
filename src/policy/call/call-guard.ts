/**
 * The split's call guard: a grpc-js `callInvocationTransformer`, installed by
 * `split.channelOptions` beside the interceptor. It runs for every call of the client before any
 * interceptor, and is the one place that sees both a call's options and its channel, so it:
 * - makes the context of a call it must prepare, attached to the metadata (so `route()` works,
 *   and a missing interceptor is noticed, even when the client's interceptor list was replaced)
 *   and to the call options (where the pipeline finds it): routed calls, unary calls the split
 *   would retry, and calls the mirror chose to copy (the mirror's preparation is given);
 * - takes a route's own refusal off the call (see misuse.ts: `route()` options fail a call that
 *   no part of the split takes);
 * - refuses a routed call on a channel that is not its split's: the call fails with UNAVAILABLE
 *   before anything is sent (through call credentials that fail, which grpc-js runs after the
 *   pick and before the call goes on the wire), instead of silently going anywhere.
 * @module
 */
import type { CallInvocationTransformer } from '@grpc/grpc-js';
import { CALL_SLOT, CallContext, withContext, type MirrorCapture, type StartObserver } from './call-context.js';
import { refusingCredentials } from './misuse.js';
import {
  newContext,
  retries,
  slotOf,
  withoutRouteRefusal,
  type InterceptorContext,
  type RouteOption,
} from './route-options.js';

type CallProperties = Parameters<CallInvocationTransformer>[0];

/** What the call guard gets for a call the mirror copies. */
export interface CopyPreparation {
  readonly methodDefinition: CallProperties['methodDefinition'];
  readonly capture: MirrorCapture;
}

/** The mirror's decision for a call: null when it does not consider the call; for a call it
 * copies, the capturing method definition and the capture; for one it considered and does not
 * copy, the observer of its first attempt (the mirror's percentage counts eligible calls only). */
export type PrepareCopy = (properties: CallProperties) => CopyPreparation | StartObserver | null;

/** The call guard of one split. A call with nothing to prepare is returned as it is. */
export function createCallGuard(
  owner: InterceptorContext,
  prepareCopy: PrepareCopy | null,
): CallInvocationTransformer {
  return (properties) => {
    const slot = slotOf(properties.callOptions);
    if (slot instanceof CallContext) return properties; // prepared by another guard already
    const route = slot;
    let callOptions = properties.callOptions;
    if (route !== undefined) {
      callOptions = withoutRouteRefusal(callOptions);
      const channelTarget = properties.channel.getTarget();
      if (channelTarget !== route.target) {
        const refusal = refusingCredentials(wrongChannelDetails(route, channelTarget));
        const own = callOptions.credentials;
        return {
          ...properties,
          callOptions: { ...callOptions, credentials: own === undefined ? refusal : own.compose(refusal) },
        };
      }
    }
    const copy = prepareCopy === null ? null : prepareCopy(properties);
    if (route === undefined && copy === null && !retries(owner, properties.methodDefinition, undefined))
      return properties;
    const context = newContext(owner, properties.methodDefinition, route);
    let methodDefinition = properties.methodDefinition;
    if (typeof copy === 'function') context.observe(copy);
    else if (copy !== null) {
      context.capture = copy.capture;
      methodDefinition = copy.methodDefinition;
    }
    return {
      ...properties,
      callOptions: { ...callOptions, [CALL_SLOT]: context },
      metadata: withContext(properties.metadata, context),
      methodDefinition,
    };
  };
}

function wrongChannelDetails(route: RouteOption, channelTarget: string): string {
  return (
    `traffic_split: route() call options of split "${route.splitName}" used on a client of ${channelTarget}; ` +
    `they only work on clients built from the split's target ${route.target}`
  );
}

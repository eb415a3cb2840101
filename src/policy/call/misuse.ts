/**
 * A client built from a split's target without the split's options (`split.channelOptions`, or
 * `split.withChannelOptions()`), or whose calls replace the split's interceptor, still splits its
 * calls by the weights, but loses what the interceptor and the call guard carry: `route()`,
 * `retryOnOtherSubset`, stream placement, mirroring, the `notStarted` figures. Such a misuse must
 * be loud, so:
 * - each channel of the split says it once, through grpc-js's logger, at its first call without
 *   the interceptor (`MissingInterceptorWarning`, checked by the picker: one field read per pick);
 * - `route()` options carry call credentials that fail the call (`refusingCredentials`), which
 *   the split's call guard or interceptor takes off when it takes the route: a routed call on a
 *   client with neither fails with a status saying why, before anything is sent, instead of
 *   going wherever the schedule sends it;
 * - a call the split would retry on another subset fails at the pick when its interceptor is
 *   missing (picker.ts), with the same advice.
 * @module
 */
import { credentials as grpcCredentials, status, type CallCredentials } from '@grpc/grpc-js';
import { logWarning } from '../grpc/logging.js';

/** The advice every message of this file ends with. */
const FIX =
  'build the client from split.target with split.channelOptions, or with ' +
  'split.withChannelOptions({ interceptors: [...yours] }) to add your own interceptors';

/** `traffic_split: split "reporter" <what>, but this client lacks its interceptor; build ...`. */
export function lacksInterceptor(splitName: string, what: string): string {
  return `traffic_split: split "${splitName}" ${what}, but this client lacks its interceptor; ${FIX}`;
}

/** What a routed call gets on a client that has neither the split's call guard nor its interceptor. */
export function unhonouredRouteDetails(splitName: string): string {
  return (
    `traffic_split: route() call options of split "${splitName}" cannot ` +
    `be honoured: this client lacks the split's interceptor; ${FIX}`
  );
}

/**
 * Call credentials whose only effect is to fail the call with UNAVAILABLE and `details`. grpc-js
 * runs call credentials after the pick and before the stream opens, so the call reaches no server.
 */
export function refusingCredentials(details: string): CallCredentials {
  return grpcCredentials.createFromMetadataGenerator((_params, callback) => {
    callback(Object.assign(new Error(details), { code: status.UNAVAILABLE }));
  });
}

/** One channel's warning that its calls come without the split's interceptor: logged once, at
 * the first such call. */
export class MissingInterceptorWarning {
  private warned = false;

  constructor(private readonly splitName: string) {}

  /** Called by the picker for each pick of a call the pipeline did not see; one field read after
   * the first. (The logging is a method apart: a closure here would make V8 allocate this
   * method's context at every call, before the early return.) */
  note(): void {
    if (this.warned) return;
    this.warned = true;
    this.log();
  }

  private log(): void {
    const text =
      `split "${this.splitName}": a client built from its target makes calls without the split's interceptor: ` +
      'retryOnOtherSubset, stream placement, mirroring and the ' +
      'notStarted figures do not apply to them, and route() calls ' +
      `fail unless the client has the split's callInvocationTransformer; ${FIX}`;
    // Out of the pick: a logger set by the application must never run, or throw, on the call path.
    queueMicrotask(() => logWarning(text));
  }
}

/**
 * Where the later attempts of a call go: grpc-js retries and hedges (a service config's
 * `retryPolicy` / `hedgingPolicy`, transparent retries) and the split's own retry each pick again.
 * The call's context (call-context.ts, shared by every attempt through the metadata
 * options) logs the attempts that ran, so that the picker can place the next one:
 * - with `retryOnOtherSubset`, on a READY weighted subset the call has not tried, when one exists;
 * - otherwise, in the call's subset (its first attempt's), on an endpoint the call has not tried
 *   where the subset has one.
 *
 * An attempt counts as tried once it *started* (its pick completed and grpc-js opened its stream),
 * never at its pick: grpc-js picks one attempt again when its pick was queued, or when the
 * subchannel it got left READY before the stream opened, and such a re-pick is not a new attempt.
 * An attempt the server refused (HTTP/2 REFUSED_STREAM, a stream caught by a GOAWAY) never reached
 * its application: its endpoint stays tried, but its subset does not, so grpc-js's transparent
 * retry of it stays in the call's subset even with `retryOnOtherSubset` (moving it would shift
 * the subsets' shares at every connection rotation).
 *
 * The first attempt is logged in fields of the record, later ones in an array made at the second
 * start: a call with one attempt allocates nothing here.
 * @module
 */
import {
  PickResultType,
  type PickArgs,
  type PickResult,
  type Picker,
  type SubchannelInterface,
} from '../grpc/grpc.js';

/** One attempt after the first that started. */
export interface LaterAttempt {
  readonly subset: number;
  readonly endpoint: object | null;
  refused: boolean;
}

/** The part of a call's record that logs its attempts. */
export interface AttemptLog {
  /** `retryOnOtherSubset`: later attempts go to a subset the call has not tried. */
  readonly otherSubset: boolean;
  /** The subset of the call's first attempt that started, -1 before: the call's subset. */
  callSubset: number;
  /** That attempt's subchannel (its endpoint once resolved), and whether the server refused it. */
  firstEndpoint: object | null;
  firstRefused: boolean;
  /** The attempts that started after the first; null until one did. */
  later: LaterAttempt[] | null;
}

/** What identifies an endpoint across the wrappers child policies put around a subchannel. */
function endpointOf(subchannel: SubchannelInterface | null): object | null {
  if (subchannel === null) return null;
  // Test doubles may lack it; grpc-js's own subchannels and every wrapper have it.
  return typeof subchannel.getRealSubchannel === 'function' ? subchannel.getRealSubchannel() : subchannel;
}

/** An attempt of the call started on `subset`, on `subchannel`. */
export function noteAttemptStarted(log: AttemptLog, subset: number, subchannel: SubchannelInterface | null): void {
  if (log.callSubset < 0) {
    // Kept as given and resolved only if a later attempt asks: most calls have one attempt.
    log.callSubset = subset;
    log.firstEndpoint = subchannel;
    return;
  }
  (log.later ??= []).push({ subset, endpoint: endpointOf(subchannel), refused: false });
}

/** The endpoint of the call's first attempt. */
function firstEndpointOf(log: AttemptLog): object | null {
  return endpointOf(log.firstEndpoint as SubchannelInterface | null);
}

/** A started attempt on `subset` was refused by the server before its application saw it. */
export function noteAttemptRefused(log: AttemptLog, subset: number, subchannel: SubchannelInterface | null): void {
  const endpoint = endpointOf(subchannel);
  const later = log.later?.find((a) => !a.refused && a.subset === subset && a.endpoint === endpoint);
  if (later !== undefined) later.refused = true;
  else if (log.callSubset === subset && firstEndpointOf(log) === endpoint) log.firstRefused = true;
}

/** Whether an attempt of the call started before: the next pick is a later attempt's. */
export function isLaterAttempt(log: AttemptLog): boolean {
  return log.callSubset >= 0;
}

/** Whether an attempt of the call ran on `subset` (refused attempts excepted). */
export function triedSubset(log: AttemptLog, subset: number): boolean {
  if (log.callSubset === subset && !log.firstRefused) return true;
  return log.later?.some((a) => a.subset === subset && !a.refused) ?? false;
}

/** Whether an attempt of the call ran on some subset (refused attempts excepted). */
export function triedAnySubset(log: AttemptLog): boolean {
  return (log.callSubset >= 0 && !log.firstRefused) || (log.later?.some((a) => !a.refused) ?? false);
}

/** How many attempts of the call started. */
function startedAttempts(log: AttemptLog): number {
  return log.callSubset < 0 ? 0 : 1 + (log.later?.length ?? 0);
}

function triedEndpoint(log: AttemptLog, subchannel: SubchannelInterface | null): boolean {
  const endpoint = endpointOf(subchannel);
  if (endpoint === null) return false;
  return firstEndpointOf(log) === endpoint || (log.later?.some((a) => a.endpoint === endpoint) ?? false);
}

/**
 * The child's pick for a later attempt of the call: an endpoint the call has not tried, when the
 * child hands one out within `started + 1` picks. Round-robin children (the default) hand out
 * their READY endpoints in turn, so that many consecutive picks hold an untried endpoint whenever
 * the subset has more endpoints than the call tried; a child that answers with one endpoint
 * (pick_first, a one-endpoint subset) gets its first answer back. The picks not taken are
 * dropped unstarted, as grpc-js drops a pick whose subchannel left READY.
 */
export function pickUntriedEndpoint(child: Picker, args: PickArgs, log: AttemptLog): PickResult {
  const first = child.pick(args);
  if (first.pickResultType !== PickResultType.COMPLETE || !triedEndpoint(log, first.subchannel)) return first;
  for (let more = startedAttempts(log); more > 0; more--) {
    const next = child.pick(args);
    if (next.pickResultType !== PickResultType.COMPLETE) break;
    if (!triedEndpoint(log, next.subchannel)) return next;
  }
  return first;
}

/**
 * Routing hints: how `split.route()` and the retry on another subset tell the picker about one
 * call. A hint is an object attached to the call's `Metadata` *options* (the flags grpc-js keeps
 * beside the entries, such as `waitForReady`), never a metadata entry: grpc-js shares the options
 * object with every copy of the metadata down to the picker's, and never puts it on the wire, so
 * a hint cannot reach a server whichever channel carries the call, split or plain.
 *
 * The `x-traffic-split` header is reserved: every split's picker removes it from the metadata that
 * is sent and never reads it, so a header forwarded from outside routes nothing.
 * @module
 */
import { callOption, withCallOption } from './call-options.js';
import { metadataValues, type Metadata } from '../grpc/grpc.js';

/** The reserved header: removed by every split's picker, never read. */
export const HINT_KEY = 'x-traffic-split';

/** Where the picker notes the subset an attempt went to. */
export interface AttemptRecord {
  /** Subset index, -1 until picked. */
  subset: number;
  /** Routed explicitly or by a rule: never retried elsewhere. */
  strict: boolean;
  /** A retry found no other READY weighted subset: the call ends with its first failure. */
  noOtherSubset: boolean;
}

/** One call's hint. Only code of this process can make one. */
export interface CallHint {
  /** The token of the split whose `route()` or interceptor made the hint. */
  readonly token: string;
  /** That split's name, for error messages. */
  readonly splitName: string;
  /** Route to this subset, strictly. */
  readonly subset?: string;
  /** Sticky key for this call. */
  readonly key?: string;
  /** The split's retry on another subset is on and this is a unary call. */
  readonly retry: boolean;
  /** Set by the split's interceptor; a retry hint without it means the interceptor is missing. */
  intercepted: boolean;
  /** Where the picker records the attempt's subset (retries only). */
  attempt?: AttemptRecord;
  /** Subset index this (retry) attempt must not use. */
  avoid?: number;
}

const HINT_OPTION = Symbol('grpc-traffic-split.hint');

/** The hint attached to `metadata`, if any. */
export function hintOf(metadata: Metadata): CallHint | undefined {
  return callOption<CallHint>(metadata, HINT_OPTION);
}

/** A copy of `metadata` carrying `hint`; the caller's own Metadata is left untouched. */
export function withHint(metadata: Metadata, hint: CallHint): Metadata {
  return withCallOption(metadata, HINT_OPTION, hint);
}

/**
 * What a split's picker does with every call's metadata: removes the reserved header from the
 * copy that is sent, and returns the call's hint. The hint stays attached: a call that is queued
 * and picked again, or retried by grpc-js, sees it again.
 */
export function takeHint(metadata: Metadata): CallHint | undefined {
  if (metadataValues(metadata, HINT_KEY) !== undefined) metadata.remove(HINT_KEY);
  return hintOf(metadata);
}

/**
 * The one object a split keeps per call, and its one slot. Everything a part of the split must
 * know of a call travels in it: the route, the retry marks, what the picker chose for the split's
 * own retry, whether and where an attempt started, the stream record, the mirror's capture and
 * the observers of attempt starts.
 *
 * It is attached under `CALL_SLOT` to the call's `Metadata` *options* (grpc-js shares that object
 * with every copy of the metadata down to each attempt's pick and never sends it), once per call,
 * by the split's pipeline (call-pipeline.ts) or, for a call it must prepare, by the call guard.
 * The same symbol keys the route in the call options `split.route()` returns.
 * @module
 */
import type { StreamRecord } from '../../algorithms/streams/stream-book.js';
import type { Metadata } from '../grpc/grpc.js';
import type { AttemptLog, LaterAttempt } from './call-attempts.js';

/** The one per-call slot: in metadata options (the context) and in call options (a route). */
export const CALL_SLOT = Symbol('grpc-traffic-split.call');

/** The reserved header: never read, never sent (the split's interceptor removes it from the calls it
 * sees, the picker from the others). */
export const RESERVED_HEADER = 'x-traffic-split';

/** Where the answered attempts of a call go when its final status is still to come. */
export interface AnswerSink {
  /** An attempt of the call started on `subset` at `startedAt` (`performance.now()`): the attempt
   * answered before it was not the committed one. */
  attemptStarted(subset: number, startedAt: number): void;
  /** An attempt of the call was answered on `subset` with `code`, after `durationMs`. */
  attemptAnswered(subset: number, code: number, durationMs: number): void;
}

/** What the split's pipeline knows of a call when it counts one of its answered attempts. */
export interface AnsweredCall {
  /** The call's full method name; '' unknown. */
  readonly method: string;
  /** A client, server or bidi stream. */
  readonly streaming: boolean;
  /** Streams: from the start of the attempt that delivered it to the first message, in ms. */
  readonly firstMessageMs: number;
  /** Streams: the largest gap between two consecutive messages, in ms (0 before a second). */
  readonly maxGapMs: number;
  /** Streams: from the first message to the last, in ms. */
  readonly messagesSpanMs: number;
}

/** What the mirror's call guard hands its interceptor stage about one call it chose to copy. */
export interface MirrorCapture {
  /** The client's channel (one the split's channel factory built). */
  readonly channel: object;
  /** The method's own response deserializer. */
  readonly deserialize: (bytes: Buffer) => unknown;
  /** The last response message received, serialized. */
  bytes: Buffer | null;
  /** The request as the primary serialized it, once it did: what the copy sends. */
  requestBytes: Buffer | null;
}

/** Told of each attempt's start, with its subset index; `first` for the call's first attempt. */
export type StartObserver = (subset: number, first: boolean) => void;

/** Who made the context, and the route it carries. */
export interface ContextOrigin {
  /** The token of the split whose `route()` or pipeline made it: only that split's picker
   * honours its route and retry marks. */
  readonly token: string;
  readonly splitName: string;
  readonly subset?: string | undefined;
  readonly key?: string | undefined;
}

export class CallContext implements AttemptLog {
  readonly token: string;
  readonly splitName: string;
  /** Explicit route to this subset name (strict). */
  readonly subset: string | undefined;
  /** Sticky key of this call. */
  readonly key: string | undefined;
  /** The split retries this unary call once on another subset. */
  readonly retry: boolean;
  /** The call's full method name (`/package.Service/Method`); '' when the split's pipeline and
   * call guard never saw the call (a client built without the split's options). */
  readonly method: string;
  /** The call's slot in the per-method figures of `methodTable` (method-counters.ts), resolved
   * once per call; -1 before. */
  methodSlot = -1;
  methodTable: object | null = null;
  /** The split's pipeline saw the call (a retry without it means the interceptor is missing). */
  intercepted = false;

  /** The split's own retry: the subset index its second attempt must not use, else -1. */
  avoid = -1;
  /** With `retry`: the subset the last pick chose, and whether by route or rule (never retried
   * elsewhere). */
  pickedSubset = -1;
  pickedStrict = false;
  /** The split's retry found no other READY weighted subset: the call ends with its first failure. */
  noOtherSubset = false;

  /** An attempt of the call started on some subset. */
  started = false;
  /** The subset the call was last bound to while that subset was not READY, or -1. */
  queuedFor = -1;
  /** The subset the schedule gave this call, or -1, until an attempt starts (picker.ts). */
  waitingFor = -1;

  // The attempt log (call-attempts.ts).
  readonly otherSubset: boolean;
  callSubset = -1;
  firstEndpoint: object | null = null;
  firstRefused = false;
  later: LaterAttempt[] | null = null;

  /** Takes the call's answered attempts in the counters' place (the pipeline's call). */
  answers: AnswerSink | null = null;
  /** Streaming calls only. */
  stream: StreamRecord | null = null;
  /** Calls the mirror chose to copy only. */
  capture: MirrorCapture | null = null;
  /** Told of each attempt's start: one observer in a field (the common case), more in a list. */
  private observer: StartObserver | null = null;
  private moreObservers: StartObserver[] | null = null;

  constructor(origin: ContextOrigin, retry: boolean, otherSubset: boolean, method = '') {
    this.token = origin.token;
    this.method = method;
    this.splitName = origin.splitName;
    this.subset = origin.subset;
    this.key = origin.key;
    this.retry = retry;
    this.otherSubset = otherSubset;
  }

  /** Routed by `split.route()`: a subset or a key. */
  get routed(): boolean {
    return this.subset !== undefined || this.key !== undefined;
  }

  observe(observer: StartObserver): void {
    if (this.observer === null) this.observer = observer;
    else (this.moreObservers ??= []).push(observer);
  }

  /** An attempt started on `subset`: told to every observer. */
  attemptStarted(subset: number, first: boolean): void {
    if (this.observer === null) return;
    this.observer(subset, first);
    const more = this.moreObservers;
    if (more !== null) for (const observer of more) observer(subset, first);
  }
}

type Options = ReturnType<Metadata['getOptions']> & { [CALL_SLOT]?: CallContext };

/** The context attached to `metadata`, if any. */
export function contextOf(metadata: Metadata): CallContext | undefined {
  return (metadata.getOptions() as Options)[CALL_SLOT];
}

/** A copy of `metadata` carrying `context`, with the caller's options otherwise (such as
 * wait-for-ready); the caller's Metadata and options object are left untouched, so reusing
 * them for another call carries nothing over. */
export function withContext(metadata: Metadata, context: CallContext): Metadata {
  const copy = metadata.clone();
  copy.setOptions({ ...metadata.getOptions(), [CALL_SLOT]: context } as Options);
  return copy;
}

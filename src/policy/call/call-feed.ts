/**
 * The split's feed of answered attempts, for judges that look at every call (a sequential
 * judge) rather than at windows of `stats()`. It is told of exactly what `finished` counts, at
 * the moment it is counted (counters.ts `countAnswer`), so a judge fed by it sees each subset's
 * answers as its figures do. While no listener is attached the counters hold no feed, and
 * counting an answer costs one null check.
 * @module
 */
import type { AnsweredCall } from './call-context.js';
import type { AnswerFeed, SubsetCounters } from './counters.js';
import { logError } from '../grpc/logging.js';
import { typeErrorAt } from '../../base/errors.js';

/**
 * One answered attempt: one count of `stats().subsets[subset].finished`, with the same subset,
 * method and status code. A call that no policy retried gives exactly one; an attempt that was
 * retried gives one of its own (the subset did fail it). Attempts that end in `abandoned`,
 * `refused` or `rebalanced`, and calls that never started, give none.
 */
export interface CallEnded {
  /** The subset that answered. */
  readonly subset: string;
  /** The call's full method name (`/shop.Store/Read`); '' when the split's interceptor never saw
   * the call (a client built without `channelOptions`). Not bounded as `stats()` bounds it. */
  readonly method: string;
  /** The status code counted in `codes`: for the attempt that served the call, the one the
   * application got. Whether it is a failure is the listener's call (a rollout's `failureCodes`). */
  readonly code: number;
  /** A client, server or bidi stream (known only for calls the split's interceptor saw). */
  readonly streaming: boolean;
  /** From the attempt's start on the subset to its status, in milliseconds: for a stream, its
   * lifetime. */
  readonly durationMs: number;
  /** Unary calls: `durationMs`, the figure of `unaryLatencyHistogram`; streams: null (a
   * stream's lifetime is not a latency). */
  readonly latencyMs: number | null;
  /** Streams: response messages the attempt delivered; null for unary calls. A stream that ended
   * with a failure code after at least one message is a mid-stream failure. */
  readonly messages: number | null;
  /** Streams that delivered a message: from the attempt's start to the first one, in
   * milliseconds (the figure of `streams.firstMessageHistogram`); null otherwise. */
  readonly firstMessageMs: number | null;
  /** Streams with two messages or more: the largest and the mean gap between consecutive
   * messages, in milliseconds (each gap is in `streams.gapHistogram`); null otherwise. */
  readonly maxGapMs: number | null;
  readonly meanGapMs: number | null;
}

/** A listener of `onCallEnded()`. */
export type CallEndedListener = (call: CallEnded) => void;

export class CallFeed implements AnswerFeed {
  /** Replaced, never changed in place: a listener removed during a dispatch is still told. */
  private listeners: readonly CallEndedListener[] = [];
  private readonly reported = new WeakSet<CallEndedListener>();

  constructor(
    private readonly counters: SubsetCounters,
    private readonly subsetNames: readonly string[],
  ) {}

  /** Adds `listener` (once per call of this); returns the function that removes it. */
  add(listener: CallEndedListener): () => void {
    if (typeof listener !== 'function') throw typeErrorAt('listener', 'a function', listener);
    // A wrapper per subscription: the same function added twice is told twice, removed once each.
    const subscription: CallEndedListener = (call) => listener(call);
    this.listeners = [...this.listeners, subscription];
    this.counters.feed = this;
    return () => {
      this.listeners = this.listeners.filter((each) => each !== subscription);
      if (this.listeners.length === 0 && this.counters.feed === this) this.counters.feed = null;
    };
  }

  /** An answered attempt (see `SubsetCounters.countAnswer`). Never throws. */
  answered(subset: number, code: number, durationMs: number, call: AnsweredCall | null, messages: number): void {
    const streaming = call?.streaming ?? false;
    const gaps = streaming && messages > 1;
    const record: CallEnded = {
      subset: this.subsetNames[subset] ?? '',
      method: call?.method ?? '',
      code,
      streaming,
      durationMs,
      latencyMs: streaming ? null : durationMs,
      messages: streaming ? messages : null,
      firstMessageMs: streaming && messages > 0 ? call!.firstMessageMs : null,
      maxGapMs: gaps ? call!.maxGapMs : null,
      meanGapMs: gaps ? call!.messagesSpanMs / (messages - 1) : null,
    };
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch (error) {
        this.report(listener, error);
      }
    }
  }

  /** A listener threw: said once per listener, which stays attached; the call never sees it. */
  private report(listener: CallEndedListener, error: unknown): void {
    if (this.reported.has(listener)) return;
    this.reported.add(listener);
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    logError(`a listener of onCallEnded() threw (said once per listener; calls are not affected): ${text}`);
  }
}

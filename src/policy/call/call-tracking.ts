/**
 * What only the split's pipeline can count, because only it sees the whole call (call-pipeline.ts
 * counts the calls that never start: queued for a pick until their deadline or a cancel):
 * - the status the application gets. grpc-js ends an attempt (its pick result's hook) with the
 *   status the transport gave it, and then, above the transport, may make the call's status
 *   another one: the committed attempt is counted with the status the application gets, for
 *   the subset that served it (`CallAnswers`; the cases are listed in the README, "What the
 *   figures count");
 * - for a stream, the messages it receives: the time from its attempt's start to the first, the
 *   gaps between the next ones, each counted as it arrives, and how many it had when it ended.
 * @module
 */
import { status as Status } from '@grpc/grpc-js';
import type { AnsweredCall, AnswerSink } from './call-context.js';
import type { SubsetCounters } from './counters.js';

/**
 * The status code the application gets for a call whose status reaches the split's interceptor
 * as `code`. grpc-js's `Client` (client.js `makeUnaryRequest`, `makeClientStreamRequest`), above
 * every interceptor, makes an OK status of a call with a unary response UNIMPLEMENTED ("No
 * message received") when the last message it was handed is null, which is what its bottom
 * interceptor hands such a call that got no message. Every other change grpc-js makes to a
 * status is made below the interceptors, which see its result: an undecodable message
 * (INTERNAL, client-interceptors.js), a message over `grpc.max_receive_message_length`
 * (RESOURCE_EXHAUSTED, subchannel-call.js), a second message for a client-streaming call (the
 * Client cancels the call with UNIMPLEMENTED, which comes back up as its status), a cancel and
 * the deadline (resolving-call.js and retrying-call.js report them).
 */
export function applicationStatusCode(responseStream: boolean, code: number, lastMessageNull: boolean): number {
  return !responseStream && code === Status.OK && lastMessageNull ? Status.UNIMPLEMENTED : code;
}

/**
 * The answered attempts of one call, counted once the status the application gets is known.
 * grpc-js ends an attempt (and calls its hook) before the call's status climbs to the
 * interceptors (a tick later at least), so the last answered attempt is held until then:
 * - a later attempt starting (a retry or a hedge) proves it was not the committed one: it is
 *   counted at once with its own status, where it ran;
 * - when the call's status arrives, it is the committed attempt if it ended OK (grpc-js commits
 *   to an attempt that ends OK, and cancels the others) or if the call had headers or a message
 *   (grpc-js commits to the attempt that delivers them): it is counted with the application's
 *   status. Otherwise it failed unanswered and the call ended between attempts (its deadline or
 *   a cancel while a retry waited): it keeps its own status.
 * Attempts that end after the call's status (none in grpc-js 1.14) are counted as they end.
 *
 * A stream's messages are those of the attempt grpc-js committed to, which is the one that
 * started last (a retry starts only after the attempt before it ended; under a hedging policy,
 * the hedge started last is credited). The attempt counted at the settle delivered them all,
 * every other one none: grpc-js commits to the attempt that delivers a message, and retries
 * nothing after that.
 */
export class CallAnswers implements AnswerSink, AnsweredCall {
  private heldSubset = -1;
  private heldCode = 0;
  private heldMs = 0;
  private settled = false;
  /** The call delivered headers or a message to the application. */
  answered = false;
  /** The last message of the call was null (or no message came). */
  lastMessageNull = true;
  /** The subset and start (`performance.now()`) of the attempt that started last. */
  private attemptSubset = -1;
  private attemptStartedAt = 0;
  /** Streams: messages received, and when the first and the last came (`performance.now()`). */
  private messages = 0;
  private firstMessageAt = 0;
  private lastMessageAt = 0;
  firstMessageMs = 0;
  maxGapMs = 0;

  /**
   * `methodSlot`: the call's slot in the counters' per-method figures, -1 without them; `method`
   * its full name; `streaming` whether it is a stream.
   */
  constructor(
    private readonly counters: SubsetCounters,
    private readonly methodSlot = -1,
    readonly method = '',
    readonly streaming = false,
  ) {}

  get messagesSpanMs(): number {
    return this.lastMessageAt - this.firstMessageAt;
  }

  attemptStarted(subset: number, startedAt: number): void {
    this.attemptSubset = subset;
    this.attemptStartedAt = startedAt;
    this.release();
  }

  /** A stream received a message (not null): counted now, on the subset of its attempt. */
  streamMessage(): void {
    const subset = this.attemptSubset;
    if (subset < 0) return;
    const now = performance.now();
    if (this.messages === 0) {
      this.firstMessageAt = now;
      this.firstMessageMs = now - this.attemptStartedAt;
      this.counters.countStreamMessage(subset, false, this.firstMessageMs, this.methodSlot);
    } else {
      const gapMs = now - this.lastMessageAt;
      if (gapMs > this.maxGapMs) this.maxGapMs = gapMs;
      this.counters.countStreamMessage(subset, true, gapMs, this.methodSlot);
    }
    this.lastMessageAt = now;
    this.messages++;
  }

  attemptAnswered(subset: number, code: number, durationMs: number): void {
    if (this.settled) return this.counters.countAnswer(subset, code, durationMs, this.methodSlot, this);
    this.release();
    this.heldSubset = subset;
    this.heldCode = code;
    this.heldMs = durationMs;
  }

  /** The call's status reached the interceptor; the application gets `applicationCode`. */
  settle(applicationCode: number): void {
    if (this.settled) return;
    this.settled = true;
    if (this.heldSubset < 0) return;
    const committed = this.heldCode === Status.OK || this.answered;
    const code = committed ? applicationCode : this.heldCode;
    // An attempt that delivered a message is the committed one; the others delivered none.
    this.counters.countAnswer(this.heldSubset, code, this.heldMs, this.methodSlot, this, this.messages);
    this.heldSubset = -1;
  }

  /** Counts the held attempt with its own status. */
  private release(): void {
    if (this.heldSubset < 0) return;
    this.counters.countAnswer(this.heldSubset, this.heldCode, this.heldMs, this.methodSlot, this);
    this.heldSubset = -1;
  }
}

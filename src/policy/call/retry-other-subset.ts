/**
 * The split's retry of a unary call on another subset (`retryOnOtherSubset`): a call whose first
 * attempt failed UNAVAILABLE before any response is made once more, picked away from the first
 * attempt's subset, and the caller sees one call.
 * @module
 */
import {
  InterceptingCall,
  status,
  type InterceptingListener,
  type InterceptorOptions,
  type Metadata,
  type NextCall,
  type StatusObject,
} from '@grpc/grpc-js';
import type { CallContext } from './call-context.js';

/** What `nextCall()` returns: the next interceptor's call, or the channel's. */
type InterceptingCallInterface = ReturnType<NextCall>;

/**
 * Where a retryable call stands:
 * - `FirstAttempt`: the first attempt runs and nothing has reached the caller; its response
 *   headers and its empty message (below) are held back.
 * - `Answered`: the first attempt delivered a message; the call can no longer be retried and
 *   its events pass through.
 * - `Retrying`: the first attempt failed UNAVAILABLE unanswered; a second attempt, picked away
 *   from the first one's subset, stands in for it and its events go to the caller.
 * - `Done`: the caller has its status.
 */
type Phase = 'FirstAttempt' | 'Answered' | 'Retrying' | 'Done';

/** One unary call that the split retries once on another subset. */
export class RetryOnOtherSubset {
  /** What grpc-js gets back from the interceptor. */
  readonly call: InterceptingCall;
  private phase: Phase = 'FirstAttempt';
  private cancelled = false;
  private sentMessage: unknown = undefined;
  private retryCall: InterceptingCallInterface | null = null;
  /** Response headers are held back until a message or the status: grpc-js servers send them
   * as soon as a call arrives, so they do not mean the call was answered, and a retried call
   * must not show the caller two sets of headers. */
  private heldHeaders: Metadata | null = null;
  /** grpc-js hands a unary call that ends without a message a `null` message before its
   * status; that is no answer either, and is held back the same way. */
  private heldEmptyMessage = false;

  constructor(
    private readonly context: CallContext,
    private readonly options: InterceptorOptions,
    private readonly nextCall: NextCall,
  ) {
    this.call = new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => this.start(metadata, listener, next),
      sendMessage: (message, next) => {
        this.sentMessage = message;
        next(message);
      },
      cancel: (next) => {
        this.cancelled = true;
        if (this.phase === 'Retrying') this.retryCall?.cancelWithStatus(status.CANCELLED, 'Cancelled on client');
        next();
      },
    });
  }

  private start(
    metadata: Metadata,
    caller: InterceptingListener,
    next: (metadata: Metadata, listener: InterceptingListener) => void,
  ): void {
    // This listener forwards to the caller's listener itself and never uses a `next`, so it
    // behaves alike whether grpc-js calls it directly (its methods take one argument) or wraps it.
    next(metadata, {
      onReceiveMetadata: (received: Metadata) => this.onFirstMetadata(received),
      onReceiveMessage: (message: unknown) => this.onFirstMessage(caller, message),
      onReceiveStatus: (result: StatusObject) => this.onFirstStatus(caller, metadata, result),
    });
  }

  private onFirstMetadata(received: Metadata): void {
    this.heldHeaders = received;
  }

  private onFirstMessage(caller: InterceptingListener, message: unknown): void {
    if (message === null) {
      this.heldEmptyMessage = true;
      return;
    }
    this.phase = 'Answered';
    if (this.heldHeaders !== null) caller.onReceiveMetadata(this.heldHeaders);
    this.heldHeaders = null;
    caller.onReceiveMessage(message);
  }

  private onFirstStatus(caller: InterceptingListener, metadata: Metadata, result: StatusObject): void {
    const context = this.context;
    const eligible =
      result.code === status.UNAVAILABLE &&
      this.phase === 'FirstAttempt' &&
      !this.cancelled &&
      context.pickedSubset >= 0 &&
      !context.pickedStrict;
    if (!eligible || this.sentMessage === undefined) return this.endAsFirst(caller, result);
    // Nothing reached the caller yet, so the second attempt's events can stand in for the
    // first's. When the picker finds no other READY weighted subset it drops the second attempt
    // at once, and the caller gets the first attempt's failure as is.
    this.phase = 'Retrying';
    // The first attempt is over: the call's context now describes the second.
    context.avoid = context.pickedSubset;
    context.pickedSubset = -1;
    const retryCall = this.nextCall(this.options);
    this.retryCall = retryCall;
    retryCall.start(metadata.clone(), {
      onReceiveMetadata: (m) => caller.onReceiveMetadata(m),
      onReceiveMessage: (m) => caller.onReceiveMessage(m),
      onReceiveStatus: (s) => {
        if (context.noOtherSubset) return this.endAsFirst(caller, result);
        this.phase = 'Done';
        caller.onReceiveStatus(s);
      },
    });
    retryCall.sendMessage(this.sentMessage);
    retryCall.halfClose();
  }

  /** Ends the call with the first attempt's events, held ones included. */
  private endAsFirst(caller: InterceptingListener, result: StatusObject): void {
    this.phase = 'Done';
    if (this.heldHeaders !== null) caller.onReceiveMetadata(this.heldHeaders);
    if (this.heldEmptyMessage) caller.onReceiveMessage(null);
    caller.onReceiveStatus(result);
  }
}

/**
 * The split's interceptor: every stage a call of the split's clients goes through, in order, from
 * the application down to the channel. Each stage is paid for only by the calls that need it.
 *
 * 1. Routes: `route()` options lose their refusal (misuse.ts), so nothing below sees it.
 * 2. The call's context (call-context.ts): the call guard's, or a new one; attached to the
 *    metadata with one clone at the start, where the picker reads it. Telemetry adds its
 *    observer of attempt starts here, in the caller's context (where its span is active).
 * 3. Call tracking: calls that never start, the status the application gets (call-tracking.ts),
 *    and, for streams, the stream record (stream-tracking.ts) and the messages' times.
 * 4. Mirror: for the calls its guard chose to copy only (mirror-interceptor.ts).
 * 5. Retry on another subset: unary calls with `retryOnOtherSubset` only (retry-other-subset.ts).
 *
 * It must sit last in a client's interceptor list (nearest the channel), so that the application's
 * interceptors see one call even when the split retries it: `split.withChannelOptions()` puts it
 * there.
 * @module
 */
import { InterceptingCall, status, type Interceptor, type InterceptorOptions, type NextCall } from '@grpc/grpc-js';
import type { StreamBook } from '../../algorithms/streams/stream-book.js';
import { closeStreamRecord, isStreaming, openStreamRecord } from '../streams/stream-tracking.js';
import { CallContext, contextOf, RESERVED_HEADER, withContext } from './call-context.js';
import { applicationStatusCode, CallAnswers } from './call-tracking.js';
import type { SubsetCounters } from './counters.js';
import { RetryOnOtherSubset } from './retry-other-subset.js';
import { newContext, slotOf, withoutRouteRefusal, type InterceptorContext } from './route-options.js';
import type { SubsetObserver } from './telemetry-port.js';

type CallInterface = ReturnType<NextCall>;

/** The mirror's stage (mirror-interceptor.ts), for calls whose context carries a capture. */
export type CopyStage = (context: CallContext, options: InterceptorOptions, inner: CallInterface) => CallInterface;

/** What the pipeline needs of its split. */
export interface PipelineParts {
  readonly owner: InterceptorContext;
  readonly counters: SubsetCounters;
  readonly streams: StreamBook;
  /** The telemetry port's per-call observer slot (telemetry-port.ts). */
  readonly telemetry: { readonly callObserver: SubsetObserver | null };
  readonly mirror: CopyStage;
}

/** The split's interceptor, its stages in the order of the module comment. */
export function createCallPipeline(parts: PipelineParts): Interceptor {
  const { owner, telemetry, mirror } = parts;
  return (incoming, nextCall) => {
    const options = withoutRouteRefusal(incoming);
    const slot = slotOf(options);
    const context = slot instanceof CallContext ? slot : newContext(owner, options.method_definition, slot);
    context.intercepted = true;
    const observer = telemetry.callObserver;
    if (observer !== null) {
      const tell = observer();
      if (tell !== null) context.observe(tell);
    }
    let inner: CallInterface = context.retry
      ? new RetryOnOtherSubset(context, options, nextCall).call
      : nextCall(options);
    if (context.capture !== null) inner = mirror(context, options, inner);
    return trackedCall(parts, context, options.method_definition, inner);
  };
}

/** The call as the application's interceptors see it: attaches the context, tracks the call. */
function trackedCall(
  parts: PipelineParts,
  context: CallContext,
  method: InterceptorOptions['method_definition'],
  inner: CallInterface,
): InterceptingCall {
  const { counters, streams } = parts;
  // Resolved here once: the attempts, the answers and the stream record share it.
  const methodSlot = counters.methodSlotOf(context);
  const streaming = isStreaming(method);
  const answers = new CallAnswers(counters, methodSlot, context.method, streaming);
  context.answers = answers;
  let call: InterceptingCall | null = null;
  if (streaming) {
    openStreamRecord(streams, context, (details) => call?.cancelWithStatus(status.UNAVAILABLE, details));
    context.stream!.method = methodSlot;
  }
  call = new InterceptingCall(inner, {
    start(metadata, _listener, next) {
      // The call guard attached it already to a call it prepared; else one clone, with options
      // of its own (the application may pass one Metadata to many calls).
      const own = contextOf(metadata) === context ? metadata : withContext(metadata, context);
      // Once per call, below every interceptor of the application: the picker removes it only
      // from calls this interceptor did not see.
      own.remove(RESERVED_HEADER);
      next(own, {
        onReceiveMetadata(received, nextMetadata) {
          answers.answered = true;
          nextMetadata(received);
        },
        onReceiveMessage(message, nextMessage) {
          answers.lastMessageNull = message === null;
          if (message !== null) {
            answers.answered = true;
            if (streaming) answers.streamMessage();
          }
          nextMessage(message);
        },
        onReceiveStatus(result, nextStatus) {
          closeStreamRecord(streams, context);
          if (!context.started) counters.notStartedCall(context.queuedFor, result.code, methodSlot);
          else answers.settle(applicationStatusCode(method.responseStream, result.code, answers.lastMessageNull));
          nextStatus(result);
        },
      });
    },
  });
  return call;
}

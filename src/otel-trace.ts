/**
 * Puts the subset that served a call on the call's active span. The interceptor captures the
 * span when the call starts, in the caller's context; the pick may happen later and elsewhere
 * (a call queued while the channel connects is picked from a connection event), so the span is
 * not looked up at pick time. The picker records the subset of each attempt in the attempt record
 * of the call's hint, and the interceptor reads it back when headers or the status arrive.
 * @module
 */
import { InterceptingCall } from '@grpc/grpc-js';
import { hintOf, withHint, type AttemptRecord } from './hints.js';
import type { CallObserver, SplitHooks } from './otel-hooks.js';
import { SUBSET_ATTRIBUTE } from './otel-metrics.js';

/** The span calls run under: what `trace.getActiveSpan()` of `@opentelemetry/api` returns. */
export interface SpanLike {
  setAttribute(key: string, value: string): unknown;
  isRecording(): boolean;
}

/** An observer that annotates the active span of every call made while a span is recording. */
export function spanAnnotator(hooks: SplitHooks, subsetNames: readonly string[], activeSpan: () => SpanLike | undefined): CallObserver {
  const { token, name: splitName } = hooks.state;
  return () => {
    const span = activeSpan();
    if (span === undefined || !span.isRecording()) return null;
    // The same span for every attempt of the call: a retry on another subset starts from a
    // grpc-js callback, where the caller's context is not guaranteed.
    return (options, nextCall) => new InterceptingCall(nextCall(options), {
      // The listener below gets each event with `next`, which passes it on to the caller's.
      start(metadata, _listener, next) {
        // The split's interceptor runs first: a routed or retried call has its hint already, and
        // a retry attempt its own record. Otherwise the call gets a hint whose only use is the
        // record the picker fills in (hints never leave the process, see hints.ts).
        let sent = metadata;
        let hint = hintOf(metadata);
        if (hint === undefined) {
          hint = { token, splitName, retry: false, intercepted: true };
          sent = withHint(metadata, hint);
        }
        const record: AttemptRecord = hint.attempt ?? { subset: -1, strict: false, noOtherSubset: false };
        hint.attempt = record;
        const seen = record;
        const annotate = (): void => {
          if (seen.subset >= 0) span.setAttribute(SUBSET_ATTRIBUTE, subsetNames[seen.subset]!);
        };
        next(sent, {
          onReceiveMetadata: (received, nextListener) => {
            annotate();
            nextListener(received);
          },
          onReceiveStatus: (status, nextListener) => {
            annotate();
            nextListener(status);
          },
        });
      },
    });
  };
}

/**
 * Puts the subset that served a call on the call's active span. The interceptor captures the
 * span when the call starts, in the caller's context; the pick may happen later and elsewhere
 * (a call queued while the channel connects is picked from a connection event), so the span is
 * not looked up at pick time. The picker records the subset of each attempt under an attempt id
 * the interceptor puts in the routing hint, and the interceptor reads it back when headers or
 * the status arrive.
 * @module
 */
import { InterceptingCall } from '@grpc/grpc-js';
import { metadataValues } from './grpc.js';
import { decodeHint, encodeHint, HINT_KEY, type RoutingHint } from './hints.js';
import type { AttemptRecord } from './interceptor.js';
import type { CallObserver, SplitHooks } from './otel-hooks.js';
import { SUBSET_ATTRIBUTE } from './otel-metrics.js';

/** The span calls run under: what `trace.getActiveSpan()` of `@opentelemetry/api` returns. */
export interface SpanLike {
  setAttribute(key: string, value: string): unknown;
  isRecording(): boolean;
}

let nextAttemptId = 1;

/** An observer that annotates the active span of every call made while a span is recording. */
export function spanAnnotator(hooks: SplitHooks, subsetNames: readonly string[], activeSpan: () => SpanLike | undefined): CallObserver {
  const { token, attempts } = hooks.state;
  return () => {
    const span = activeSpan();
    if (span === undefined || !span.isRecording()) return null;
    // The same span for every attempt of the call: a retry on another subset starts from a
    // grpc-js callback, where the caller's context is not guaranteed.
    return (options, nextCall) => new InterceptingCall(nextCall(options), {
      // The listener below gets each event with `next`, which passes it on to the caller's.
      start(metadata, _listener, next) {
        const existing = metadataValues(metadata, HINT_KEY)?.[0];
        const hint: RoutingHint = (typeof existing === 'string' ? decodeHint(existing, token) : null) ?? {};
        // A retry on another subset has its own attempt id already: share its record.
        let id = hint.attempt;
        let record = id === undefined ? undefined : attempts.get(id);
        const owned = record === undefined;
        if (record === undefined) {
          id = `o${nextAttemptId++}`;
          record = { subset: -1, strict: false } satisfies AttemptRecord;
          attempts.set(id, record);
          metadata.set(HINT_KEY, encodeHint(token, { ...hint, attempt: id }));
        }
        const seen = record;
        const annotate = (): void => {
          if (seen.subset >= 0) span.setAttribute(SUBSET_ATTRIBUTE, subsetNames[seen.subset]!);
        };
        next(metadata, {
          onReceiveMetadata: (received, nextListener) => {
            annotate();
            nextListener(received);
          },
          onReceiveStatus: (status, nextListener) => {
            annotate();
            if (owned) attempts.delete(id!);
            nextListener(status);
          },
        });
      },
    });
  };
}

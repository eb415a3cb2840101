/**
 * The serving subset on each call's span: `grpc.lb.traffic_split.subset` is set on the span that
 * is active where the call is made, once the subset is known.
 * @module
 */
import type { SubsetObserver } from '../../split/ops-port.js';
import { SUBSET_ATTRIBUTE } from './otel-metrics.js';

/** The span calls run under: what `trace.getActiveSpan()` of `@opentelemetry/api` returns. */
export interface SpanLike {
  setAttribute(key: string, value: string): unknown;
  isRecording(): boolean;
}

/** An observer that annotates the active span of every call made while a span is recording. */
export function spanAnnotator(subsetNames: readonly string[], activeSpan: () => SpanLike | undefined): SubsetObserver {
  return () => {
    const span = activeSpan();
    if (span === undefined || !span.isRecording()) return null;
    return (subset) => span.setAttribute(SUBSET_ATTRIBUTE, subsetNames[subset]!);
  };
}

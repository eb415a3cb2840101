/**
 * Counting calls that never start. A call queued for a pick (no READY subset, or its explicit
 * route's subset is not READY, under wait-for-ready) that then ends by its deadline or a cancel
 * never reaches a pick result's hooks: only something that sees the whole call can count it.
 * The split's interceptor does: it gives each call a record in its metadata options (which
 * grpc-js shares between the copies of the metadata every attempt's pick sees), the picker marks
 * the record when an attempt starts, and the call's final status is counted as not started when
 * none did.
 * @module
 */
import { InterceptingCall, type Interceptor, type InterceptorOptions } from '@grpc/grpc-js';
import { withCallOption } from './call-options.js';
import { CALL_RECORD, newCallRecord, type SubsetCounters } from './counters.js';

/** Where an outer layer (the mirror) leaves, in a call's interceptor options, the function its
 * call record tells of each attempt's start. */
const START_OBSERVER = Symbol('traffic_split.startObserver');

type OptionsWithObserver = InterceptorOptions & { [START_OBSERVER]?: (subset: number) => void };

/** `options` for a call whose record will tell `observer` the subset each attempt starts on. */
export function withStartObserver(options: InterceptorOptions, observer: (subset: number) => void): InterceptorOptions {
  return { ...options, [START_OBSERVER]: observer } as OptionsWithObserver;
}

/** `inner`, preceded by the call record and the not-started count of `counters`;
 * `retryOnOtherSubset` is the split's option, which places the calls' later attempts. */
export function withCallTracking(inner: Interceptor, counters: SubsetCounters, retryOnOtherSubset: boolean): Interceptor {
  return (options, nextCall) => {
    const record = newCallRecord(retryOnOtherSubset);
    const observer = (options as OptionsWithObserver)[START_OBSERVER];
    if (observer !== undefined) record.onStarted = observer;
    return new InterceptingCall(inner(options, nextCall), {
      start(metadata, _listener, next) {
        // A copy with options of its own: the application may pass one Metadata to many calls.
        next(withCallOption(metadata, CALL_RECORD, record), {
          onReceiveStatus(status, nextStatus) {
            if (!record.started) counters.notStartedCall(record.queuedFor, status.code);
            nextStatus(status);
          },
        });
      },
    });
  };
}

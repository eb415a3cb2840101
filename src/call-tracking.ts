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
import { InterceptingCall, type Interceptor, type Metadata } from '@grpc/grpc-js';
import { CALL_RECORD, type CallRecord, type SubsetCounters } from './counters.js';

/** Where an outer layer (the mirror) leaves the function the call record tells of each start. */
const START_OBSERVER = Symbol('traffic_split.startObserver');

type OptionsWithObserver = ReturnType<Metadata['getOptions']> & { [START_OBSERVER]?: (subset: number) => void };

/** A copy of `metadata` whose call will tell `observer` the subset each attempt starts on. */
export function withStartObserver(metadata: Metadata, observer: (subset: number) => void): Metadata {
  const copy = metadata.clone();
  copy.setOptions({ ...metadata.getOptions(), [START_OBSERVER]: observer } as OptionsWithObserver);
  return copy;
}

/** `inner`, preceded by the call record and the not-started count of `counters`. */
export function withCallTracking(inner: Interceptor, counters: SubsetCounters): Interceptor {
  return (options, nextCall) => {
    const record: CallRecord = { started: false, queuedFor: -1 };
    return new InterceptingCall(inner(options, nextCall), {
      start(metadata, _listener, next) {
        const observer = (metadata.getOptions() as OptionsWithObserver)[START_OBSERVER];
        if (observer !== undefined) record.onStarted = observer;
        // A copy with options of its own: the application may pass one Metadata to many calls.
        const tagged = metadata.clone();
        tagged.setOptions({ ...metadata.getOptions(), [CALL_RECORD]: record } as ReturnType<typeof metadata.getOptions>);
        next(tagged, {
          onReceiveStatus(status, nextStatus) {
            if (!record.started) counters.notStartedCall(record.queuedFor, status.code);
            nextStatus(status);
          },
        });
      },
    });
  };
}

/**
 * How the split knows a call is a stream. The picker cannot tell (grpc-js gives it the metadata,
 * not the method), so the split's interceptor, which sees the method definition, gives every
 * streaming call (client, server or bidi streaming) a record in its metadata *options*: like a
 * routing hint, it is shared by every copy of the metadata down to each attempt's pick and never
 * sent. The interceptor also owns the two ends of the record's life that only it can see: the
 * call's final status, whatever ended it (status, cancel, deadline, a channel shut down), and
 * the means to end the call from the client side.
 *
 * Without the interceptor (a client built without `channelOptions`/`withChannelOptions()`, or
 * a call given interceptors of its own, which replace the client's) a streaming call carries no
 * record: the picker routes it like a unary call, by the call schedule, and it is neither
 * counted in the open streams nor ever ended by the split.
 * @module
 */
import { InterceptingCall, status, type Interceptor, type Metadata } from '@grpc/grpc-js';
import type { StreamBook, StreamRecord } from '../../algorithms/streams/stream-book.js';
import { callOption, withCallOption } from '../call/call-options.js';

/** The key of the stream record in the metadata options (a symbol: never sent, never clashes). */
const STREAM_RECORD = Symbol('traffic_split.stream');

/** The record of the streaming call `metadata` belongs to; undefined for unary calls. */
export function streamRecordOf(metadata: Metadata): StreamRecord | undefined {
  return callOption<StreamRecord>(metadata, STREAM_RECORD);
}

/** `inner`, preceded by a stream record for every streaming call. Unary calls pass straight to
 * `inner`, untouched. */
export function withStreamTracking(inner: Interceptor, book: StreamBook): Interceptor {
  return (options, nextCall) => {
    const method = options.method_definition;
    if (!method.requestStream && !method.responseStream) return inner(options, nextCall);
    let call: InterceptingCall | null = null;
    const record = book.newRecord((details) => call?.cancelWithStatus(status.UNAVAILABLE, details));
    call = new InterceptingCall(inner(options, nextCall), {
      start(metadata, _listener, next) {
        // A copy with options of its own: the application may pass one Metadata to many calls.
        next(withCallOption(metadata, STREAM_RECORD, record), {
          onReceiveStatus(result, nextStatus) {
            book.ended(record);
            nextStatus(result);
          },
        });
      },
    });
    return call;
  };
}

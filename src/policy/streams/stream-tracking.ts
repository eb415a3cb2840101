/**
 * How the split knows a call is a stream. The picker cannot tell (grpc-js gives it the metadata,
 * not the method), so the split's pipeline, which sees the method definition, gives every
 * streaming call (client, server or bidi streaming) a record in its context, and owns the two
 * ends of the record's life that only it can see: the call's final status, whatever ended it
 * (status, cancel, deadline, a channel shut down), and the means to end the call from the client
 * side.
 *
 * Without the pipeline (a client built without `channelOptions`/`withChannelOptions()`, or a
 * call given interceptors of its own, which replace the client's) a streaming call carries no
 * record: the picker routes it like a unary call, by the call schedule, and it is neither counted
 * in the open streams nor ever ended by the split.
 * @module
 */
import type { StreamBook } from '../../algorithms/streams/stream-book.js';
import type { CallContext } from '../call/call-context.js';

/** Whether calls of `method` are streams. */
export function isStreaming(method: { readonly requestStream: boolean; readonly responseStream: boolean }): boolean {
  return method.requestStream || method.responseStream;
}

/** Gives the streaming call of `context` its record in `book`; `end` ends the call. */
export function openStreamRecord(book: StreamBook, context: CallContext, end: (details: string) => void): void {
  context.stream = book.newRecord(end);
}

/** The call of `context` ended: its stream, if any, leaves the book. */
export function closeStreamRecord(book: StreamBook, context: CallContext): void {
  const stream = context.stream;
  if (stream !== null) (stream.home ?? book).ended(stream);
}

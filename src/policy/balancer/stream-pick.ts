/**
 * The pick of a streaming call: places its record in the split's stream book, and wraps the
 * child's pick result so that the book follows the attempt (started, ended) and so that an
 * attempt the split itself ended is counted apart from the subset's failures. Wraps, never
 * mutates, the result it is given (see counters.ts).
 * @module
 */
import { PickResultType, Status, type Metadata, type PickResult } from '../grpc/grpc.js';
import { markEndedBySplit } from '../call/counters.js';
import type { StreamBook, StreamPin, StreamRecord } from '../../algorithms/streams/stream-book.js';

/** `result` (the picker's result for `subset`) for the stream `record`. */
export function pickForStream(
  book: StreamBook,
  record: StreamRecord,
  subset: number,
  pin: StreamPin,
  result: PickResult,
): PickResult {
  if (record.home !== book) {
    // Placed before under other weights (an override added or removed since): it leaves them.
    record.home?.release(record);
    record.home = book;
  }
  if (result.pickResultType !== PickResultType.COMPLETE) {
    // Queued or failed: the stream holds no place until a pick completes; queued, it waits for
    // `subset`, and the placement counts it there.
    if (result.pickResultType === PickResultType.QUEUE) book.queued(record, subset);
    else book.release(record);
    return result;
  }
  const token = book.place(record, subset, pin);
  // The record's book at the time of the event: the split's takes the streams of an override gone.
  return {
    pickResultType: result.pickResultType,
    subchannel: result.subchannel,
    status: result.status,
    onCallStarted: () => {
      (record.home ?? book).started(record, token, subset);
      result.onCallStarted?.();
    },
    // Typed as grpc-js 1.14 calls it; releases before 1.14 pass the code alone.
    onCallEnded: (code: number, details: string, metadata: Metadata) => {
      (record.home ?? book).attemptEnded(record, token);
      if (endedBySplit(record, code, details as string | undefined)) markEndedBySplit(result);
      result.onCallEnded?.(code, details, metadata);
    },
  };
}

/**
 * Whether the attempt's end is the split's own cancel. Only that status carries the split's
 * details, so a status that won the race against it (the server ended the stream first) counts
 * as the server's. grpc-js before 1.14 gives `onCallEnded` the code alone: there, an UNAVAILABLE
 * end of a stream the split was ending counts as the split's (a server UNAVAILABLE in the same
 * instant would be counted as rebalanced, not as a failure).
 */
function endedBySplit(record: StreamRecord, code: number, details: string | undefined): boolean {
  if (record.endedBySplit === null) return false;
  return details === undefined ? code === Status.UNAVAILABLE : details === record.endedBySplit;
}

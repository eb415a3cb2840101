/**
 * The pick of a streaming call: places its record in the split's stream book, and wraps the
 * child's pick result so that the book follows the attempt (started, ended) and so that an
 * attempt the split itself ended is counted apart from the subset's failures. Wraps, never
 * mutates, the result it is given (see counters.ts).
 * @module
 */
import { PickResultType, type Metadata, type PickResult } from './grpc.js';
import { markEndedBySplit } from './counters.js';
import type { StreamBook, StreamPin, StreamRecord } from '../algorithms/stream-book.js';

/** `result` (the picker's result for `subset`) for the stream `record`. */
export function pickForStream(book: StreamBook, record: StreamRecord, subset: number, pin: StreamPin, result: PickResult): PickResult {
  if (result.pickResultType !== PickResultType.COMPLETE) {
    // Queued or failed: the stream holds no place until a pick completes.
    book.release(record);
    return result;
  }
  const token = book.place(record, subset, pin);
  return {
    pickResultType: result.pickResultType,
    subchannel: result.subchannel,
    status: result.status,
    onCallStarted: () => {
      book.started(record, token, subset);
      result.onCallStarted?.();
    },
    onCallEnded: (code: number, details: string, metadata: Metadata) => {
      book.attemptEnded(record, token);
      // Only the status of the split's own cancel carries its details: a status that won the
      // race against it (the server ended the stream first) counts as the server's.
      if (record.endedBySplit !== null && details === record.endedBySplit) markEndedBySplit(result);
      result.onCallEnded?.(code, details, metadata);
    },
  };
}

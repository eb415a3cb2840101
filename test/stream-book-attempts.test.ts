import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamBook, StreamPin } from '../src/algorithms/streams/stream-book.js';

function counts(book: StreamBook): number[] {
  return Array.from({ length: book.subsetCount }, (_, i) => book.openOn(i));
}

describe('stream book: attempts running side by side (hedging)', () => {
  it('counts a hedged stream once, where an attempt still running carries it', () => {
    const book = new StreamBook(
      3,
      () => 0,
      () => 0,
    );
    const record = book.newRecord(() => {});
    const first = book.place(record, 0, StreamPin.Keyless);
    book.started(record, first, 0);
    const second = book.place(record, 1, StreamPin.Keyless);
    book.started(record, second, 1);
    assert.deepEqual(counts(book), [0, 1, 0]);
    // A third attempt's pick queues: the stream still runs on the first two.
    book.release(record);
    assert.deepEqual(counts(book), [1, 0, 0]);
    assert.equal(record.started, true);
    // The first attempt wins; the second is discarded: the stream counts on subset 0.
    book.attemptEnded(record, second);
    assert.deepEqual(counts(book), [1, 0, 0]);
    assert.equal(record.started, true);
    book.attemptEnded(record, first);
    assert.deepEqual(counts(book), [0, 0, 0]);
    book.ended(record);
    assert.deepEqual(counts(book), [0, 0, 0]);
    assert.equal(record.attempts.size, 0);
  });

  it('after the final status, no attempt end places the stream again', () => {
    const book = new StreamBook(
      2,
      () => 0,
      () => 0,
    );
    const record = book.newRecord(() => {});
    const first = book.place(record, 0, StreamPin.Keyless);
    book.started(record, first, 0);
    const second = book.place(record, 1, StreamPin.Keyless);
    book.started(record, second, 1);
    book.ended(record);
    book.attemptEnded(record, first);
    book.attemptEnded(record, second);
    book.release(record);
    assert.deepEqual(counts(book), [0, 0]);
    assert.equal(record.subset, -1);
  });
});

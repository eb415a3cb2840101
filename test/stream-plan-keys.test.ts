import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamBook, StreamPin } from '../src/algorithms/streams/stream-book.js';
import { planRebalance, type PlanInputs } from '../src/algorithms/streams/stream-plan.js';
import { rendezvousPick, subsetSeeds } from '../src/algorithms/routing/sticky-hash.js';

/** A book of `n` started keyed streams with keys of `keyLength` characters, half on each subset. */
function keyedBook(n: number, keyLength: number): StreamBook {
  const book = new StreamBook(
    2,
    () => 0,
    () => 0,
  );
  for (let i = 0; i < n; i++) {
    const record = book.newRecord(() => {});
    record.key = `${'k'.repeat(keyLength)}-${i}`;
    book.started(record, book.place(record, i % 2, StreamPin.Keyed), i % 2);
  }
  return book;
}

describe('stream rebalancing plan with sticky keys from outside clients', () => {
  it("hashes each open stream's key once per weights in force, not at every tick of the window", () => {
    const book = keyedBook(200, 8_000);
    const seeds = subsetSeeds(['v1', 'v2']);
    let weights: readonly number[] = Object.freeze([10, 90]);
    let hashed = 0;
    const inputs = (): PlanInputs => ({
      weights,
      ready: () => true,
      mapKey: (key, eligible) => {
        hashed++;
        return rendezvousPick(key, eligible, weights, seeds);
      },
    });
    const first = planRebalance(book, inputs());
    assert.equal(hashed, 200);
    // Every further tick under the same weights plans again from the same keys.
    for (let tick = 0; tick < 50; tick++) assert.equal(planRebalance(book, inputs()).count, first.count);
    assert.equal(hashed, 200);
    // New weights: every key is hashed again, once.
    weights = Object.freeze([90, 10]);
    planRebalance(book, inputs());
    planRebalance(book, inputs());
    assert.equal(hashed, 400);
  });
});

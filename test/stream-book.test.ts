import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StreamBook, StreamPin, type StreamRecord } from '../src/algorithms/streams/stream-book.js';
import { integerTargets, planRebalance, type PlanInputs } from '../src/algorithms/streams/stream-plan.js';
import { StreamEnder } from '../src/algorithms/streams/stream-ender.js';
import { rendezvousPick, subsetSeeds } from '../src/algorithms/routing/sticky-hash.js';
import { seededRandom } from '../src/algorithms/random.js';
import { FakeClock } from './helpers/fake-clock.js';

/** A book and records that end the way the split's interceptor ends them: synchronously. */
function makeBook(subsets: number, clock = new FakeClock()) {
  const book = new StreamBook(subsets, seededRandom(1), () => clock.now());
  const ended: { record: StreamRecord; details: string; at: number }[] = [];
  const open = (subset: number, pin = StreamPin.Keyless, key?: string): StreamRecord => {
    const record: StreamRecord = book.newRecord((details) => {
      ended.push({ record, details, at: clock.now() });
      book.ended(record);
    });
    record.key = key;
    const token = book.place(record, subset, pin);
    book.started(record, token);
    return record;
  };
  return { book, ended, open, clock };
}

function counts(book: StreamBook): number[] {
  return Array.from({ length: book.subsetCount }, (_, i) => book.openOn(i));
}

function inputs(weights: number[], ready: (i: number) => boolean = () => true): PlanInputs {
  const seeds = subsetSeeds(weights.map((_, i) => `s${i}`));
  return { weights, ready, mapKey: (key, eligible) => rendezvousPick(key, eligible, weights, seeds) };
}

const everySubset = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('stream book', () => {
  it('places from no streams within one stream of every share, at every count (two subsets)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (a, b) => {
        const { book, open } = makeBook(2);
        const weights = [a, b];
        for (let n = 1; n <= 200; n++) {
          open(book.choose(everySubset(2), weights, false));
          for (let i = 0; i < 2; i++)
            assert.ok(Math.abs(book.openOn(i) - (n * weights[i]!) / (a + b)) < 1, `${n}: ${counts(book)}`);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('returns to the exact split after any ends and as many opens, whatever the weights (2 to 6 subsets)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        (weights, periods, ends) => {
          const n = weights.length;
          const { book, open } = makeBook(n);
          // An exact split of `periods * total` streams.
          const records: StreamRecord[] = [];
          weights.forEach((w, i) => {
            for (let k = 0; k < w * periods; k++) records.push(open(i));
          });
          let ended = 0;
          for (const pick of ends) {
            const live = records.filter((r) => !r.ended);
            if (live.length === 0) break;
            book.ended(live[pick % live.length]!);
            ended++;
          }
          for (let k = 0; k < ended; k++) records.push(open(book.choose(everySubset(n), weights, false)));
          assert.deepEqual(
            counts(book),
            weights.map((w) => w * periods),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts each stream once however its attempts and picks interleave (thousands of random operations)', () => {
    const { book } = makeBook(4);
    const random = seededRandom(42);
    const records: { record: StreamRecord; tokens: number[] }[] = [];
    for (let op = 0; op < 20_000; op++) {
      const r = random();
      if (r < 0.3 || records.length === 0) {
        records.push({ record: book.newRecord(() => {}), tokens: [] });
        continue;
      }
      const entry = records[Math.floor(random() * records.length)]!;
      const { record } = entry;
      if (r < 0.55) entry.tokens.push(book.place(record, Math.floor(random() * 4), StreamPin.Keyless));
      else if (r < 0.7 && entry.tokens.length > 0)
        book.started(record, entry.tokens[Math.floor(random() * entry.tokens.length)]!);
      else if (r < 0.85 && entry.tokens.length > 0)
        book.attemptEnded(record, entry.tokens[Math.floor(random() * entry.tokens.length)]!);
      else if (r < 0.9) book.release(record);
      else book.ended(record);
      const placed = records.filter((e) => e.record.subset >= 0);
      if (op % 500 === 0 || op > 19_900) {
        assert.equal(
          counts(book).reduce((x, y) => x + y, 0),
          placed.length,
        );
        for (let i = 0; i < 4; i++) assert.equal(book.openOn(i), placed.filter((e) => e.record.subset === i).length);
        assert.ok(
          placed.every((e) => !e.record.ended),
          'an ended stream is never placed',
        );
      }
    }
  });

  it('ignores the end of an attempt that a newer placement replaced', () => {
    const { book } = makeBook(2);
    const record = book.newRecord(() => {});
    const first = book.place(record, 0, StreamPin.Keyless);
    const second = book.place(record, 1, StreamPin.Keyless);
    book.attemptEnded(record, first);
    assert.deepEqual(counts(book), [0, 1]);
    book.attemptEnded(record, second);
    assert.deepEqual(counts(book), [0, 0]);
    book.ended(record);
    book.ended(record);
    assert.equal(book.place(record, 0, StreamPin.Keyless), -1);
    assert.deepEqual(counts(book), [0, 0]);
  });

  it('skips subsets of weight 0 and places nothing without an eligible subset', () => {
    const { book, open } = makeBook(3);
    // 8 streams: integer shares (2 and 6), which the placement meets exactly.
    for (let k = 0; k < 8; k++) open(book.choose(everySubset(3), [0, 1, 3], false));
    assert.deepEqual(counts(book), [0, 2, 6]);
    assert.equal(book.choose(new Int32Array(0), [1, 1, 1], false), -1);
    assert.equal(book.choose(everySubset(3), [0, 0, 0], false), -1);
    // Equal shares (the weight-0 fallback) ignore the weights.
    const fallback = makeBook(2);
    for (let k = 0; k < 4; k++) fallback.open(fallback.book.choose(everySubset(2), [0, 0], true));
    assert.deepEqual(counts(fallback.book), [2, 2]);
  });
});

describe('stream rebalancing plan', () => {
  it('gives integer targets within one of every share, summing to the streams', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 2, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 6, maxLength: 6 }),
        (c, w) => {
          const weights = c.map((_, i) => w[i]!);
          const eligible = weights.flatMap((x, i) => (x > 0 ? [i] : []));
          if (eligible.length === 0) return;
          const targets = integerTargets(c, eligible, weights);
          const total = c.reduce((x, y) => x + y, 0);
          const weightSum = eligible.reduce((x, i) => x + weights[i]!, 0);
          assert.equal(
            targets.reduce((x, y) => x + y, 0),
            total,
          );
          targets.forEach((t, i) => assert.ok(Math.abs(t - (total * weights[i]!) / weightSum) < 1, `${t} for ${i}`));
        },
      ),
    );
  });

  it('ends just the keyless streams above the new shares, never pinned ones', () => {
    const { book, open } = makeBook(2);
    for (let k = 0; k < 17; k++) open(0);
    open(0, StreamPin.Pinned);
    open(1);
    open(1);
    const plan = planRebalance(book, inputs([10, 90]));
    assert.equal(plan.count, 16);
    assert.equal(plan.next!.from, 0);
    assert.equal(plan.next!.to, 1);
    assert.equal(plan.next!.record.pin, StreamPin.Keyless);
    // Only pinned streams above the share: nothing to end.
    const pinned = makeBook(2);
    for (let k = 0; k < 5; k++) pinned.open(0, StreamPin.Pinned);
    assert.equal(planRebalance(pinned.book, inputs([0, 1])).count, 0);
  });

  it('moves every keyless stream off a weight-0 subset, and none towards a subset no channel has READY', () => {
    const { book, open } = makeBook(3);
    for (let k = 0; k < 6; k++) open(0);
    for (let k = 0; k < 6; k++) open(1);
    assert.equal(planRebalance(book, inputs([0, 1, 1])).count, 6);
    // Subset 2 is not READY anywhere: subset 0's streams can only go to 1.
    assert.equal(
      planRebalance(
        book,
        inputs([0, 1, 1], (i) => i !== 2),
      ).count,
      6,
    );
    assert.equal(
      planRebalance(
        book,
        inputs([1, 1, 1], (i) => i !== 2),
      ).count,
      0,
    );
    // Nothing READY and weighted: nothing to do.
    assert.equal(
      planRebalance(
        book,
        inputs([1, 0, 0], (i) => i !== 0),
      ).count,
      0,
    );
  });

  it('ends a keyed stream only when its key maps elsewhere', () => {
    const { book, open } = makeBook(2);
    const before = inputs([90, 10]);
    const after = inputs([10, 90]);
    const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    for (const key of keys) open(before.mapKey(key, everySubset(2)), StreamPin.Keyed, key);
    const moving = keys.filter((key) => after.mapKey(key, everySubset(2)) !== before.mapKey(key, everySubset(2)));
    assert.ok(moving.length > 0);
    const plan = planRebalance(book, after);
    // Keyed moves first; then keyless excess (there is none: every stream is keyed).
    assert.equal(plan.count, moving.length);
    assert.ok(moving.includes(plan.next!.record.key!));
  });
});

describe('stream ender', () => {
  function ender(book: StreamBook, clock: FakeClock, weights: () => number[], maxStreamAgeMs: number | null = null) {
    return new StreamEnder({
      book,
      clock,
      random: seededRandom(3),
      subsetNames: ['v1', 'v2', 'v3'].slice(0, book.subsetCount),
      planInputs: () => inputs(weights()),
      maxStreamAgeMs,
    });
  }

  it('spreads the ends evenly over the window, the first at once', () => {
    const { book, open, ended, clock } = makeBook(2);
    for (let k = 0; k < 18; k++) open(0);
    for (let k = 0; k < 2; k++) open(1);
    let weights = [90, 10];
    const e = ender(book, clock, () => weights);
    const start = clock.now();
    weights = [10, 90];
    e.weightsChanged({ withinMs: 1000 });
    clock.advance(1000);
    assert.deepEqual(
      ended.map((x) => x.at - start),
      Array.from({ length: 16 }, (_, k) => k * 62.5),
    );
    assert.ok(ended.every((x) => x.details === 'traffic_split: stream rebalanced to follow new weights (v1 -> v2)'));
    assert.deepEqual(counts(book), [2, 2]);
    assert.deepEqual(clock.pending, []);
  });

  it('skips a stream that ended on its own, even in the tick it was due, and ends each stream once', () => {
    const { book, open, ended, clock } = makeBook(2);
    const records = Array.from({ length: 10 }, () => open(0));
    let weights = [1, 0];
    const e = ender(book, clock, () => weights);
    weights = [0, 1];
    e.weightsChanged({ withinMs: 100 });
    // The oldest would be ended at once; it ends by itself first.
    book.ended(records[0]!);
    clock.advance(0);
    assert.deepEqual(
      ended.map((x) => x.record),
      [records[1]],
    );
    // A stream whose end() does not reach the book (its call is already gone) is not ended twice.
    const stuck = book.newRecord(() => ended.push({ record: stuck, details: 'stuck', at: clock.now() }));
    book.started(stuck, book.place(stuck, 0, StreamPin.Keyless));
    clock.advance(100);
    const ends = ended.map((x) => x.record);
    assert.equal(new Set(ends).size, ends.length, 'each stream ended once');
    assert.equal(ends.length, 10, 'the 10 ends planned at the change, no more');
    assert.ok(!ends.includes(records[0]!) && ends.includes(stuck));
    // The stuck one stays placed (its call never reported an end) but is not a candidate again.
    assert.equal(planRebalance(book, inputs(weights)).count, 0);
  });

  it('ends at most what each change planned, never faster than its pace, with weights changed at every tick', () => {
    const { book, open, ended, clock } = makeBook(2);
    for (let k = 0; k < 1000; k++) open(k % 2);
    let weights = [1, 1];
    const e = ender(book, clock, () => weights);
    const random = seededRandom(9);
    for (let change = 0; change < 300; change++) {
      weights = [1 + Math.floor(random() * 9), 1 + Math.floor(random() * 9)];
      const planned = planRebalance(book, inputs(weights)).count;
      const before = ended.length;
      e.weightsChanged({ withinMs: 1000 });
      clock.advance(1 + Math.floor(random() * 20));
      assert.ok(ended.length - before <= Math.max(1, planned), `${ended.length - before} > ${planned}`);
      // The ended streams come back, placed by the open streams.
      for (let k = before; k < ended.length; k++) open(book.choose(everySubset(2), weights, false));
    }
    assert.equal(book.openOn(0) + book.openOn(1), 1000);
    const times = ended.map((x) => x.at);
    for (let k = 1; k < times.length; k++) assert.ok(times[k]! >= times[k - 1]!);
    e.close();
    assert.deepEqual(clock.pending, []);
  });

  it('rebalances thousands of streams within the window, in bounded time', () => {
    const { book, open, ended, clock } = makeBook(3);
    for (let k = 0; k < 5000; k++) open(k % 10 === 0 ? 1 : 0);
    let weights = [90, 10, 0];
    const e = ender(book, clock, () => weights);
    weights = [10, 60, 30];
    const started = performance.now();
    e.weightsChanged({ withinMs: 10_000 });
    clock.advance(10_000);
    const elapsedMs = performance.now() - started;
    assert.equal(ended.length, 4000);
    // Not re-opened here: what is left is the kept 500 + 500.
    assert.deepEqual(counts(book), [500, 500, 0]);
    assert.ok(elapsedMs < 20_000, `${elapsedMs} ms`);
  });

  it('ends streams at the age limit with jitter, skips pinned ones, and stops on close()', () => {
    const { book, open, ended, clock } = makeBook(2);
    const e = ender(book, clock, () => [1, 1], 1000);
    const start = clock.now();
    for (let k = 0; k < 20; k++) open(k % 2);
    const pinned = open(0, StreamPin.Pinned);
    clock.advance(899);
    assert.equal(ended.length, 0);
    clock.advance(101);
    assert.equal(ended.length, 20);
    assert.ok(ended.every((x) => x.at - start >= 900 && x.at - start <= 1000 && x.record !== pinned));
    assert.ok(new Set(ended.map((x) => x.at)).size > 10, 'jittered');
    open(0);
    e.close();
    assert.deepEqual(clock.pending, []);
  });
});

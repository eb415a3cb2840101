import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MethodLookup } from '../src/algorithms/routing/method-lookup.js';
import { seededRandom } from '../src/algorithms/random.js';
import { StreamBook } from '../src/algorithms/streams/stream-book.js';
import { MethodWeightBook, MAX_OWN_SCHEDULES } from '../src/policy/methods/method-weight-book.js';
import { parseMethodWeights } from '../src/policy/methods/method-weights.js';

const SUBSETS = ['v1', 'v2'];

/** The longest key matching `method`, by brute force. */
function longestMatch(keys: readonly string[], method: string): number {
  let best = -1;
  keys.forEach((key, i) => {
    const hit = key.endsWith('/') ? method.startsWith(key) : key === method;
    if (hit && (best < 0 || key.length > keys[best]!.length)) best = i;
  });
  return best;
}

describe('method lookup', () => {
  it('finds the longest key: the exact name before its service prefix', () => {
    const lookup = new MethodLookup(['/a.S/', '/a.S/Read', '/b.T/']);
    assert.equal(lookup.indexOf('/a.S/Read'), 1);
    assert.equal(lookup.indexOf('/a.S/Write'), 0);
    assert.equal(lookup.indexOf('/b.T/X'), 2);
    assert.equal(lookup.indexOf('/c.U/X'), -1);
    assert.equal(lookup.indexOf(''), -1);
    assert.equal(lookup.indexOf('/a.S'), -1);
    // As a rollout's methods and a rule's prefix see it: the service ends at the second slash.
    assert.equal(lookup.indexOf('/a.S/Read/x'), 0);
    assert.equal(lookup.indexOf('/b.T//'), 2);
  });

  it('agrees with a brute-force longest match for any keys and names', () => {
    const part = fc.constantFrom('a', 'b', 'a.S', 'Read', 'x');
    const key = fc.oneof(
      fc.tuple(part, part).map(([s, m]) => `/${s}/${m}`),
      part.map((s) => `/${s}/`),
    );
    const method = fc.oneof(
      fc.tuple(part, part).map(([s, m]) => `/${s}/${m}`),
      // Not gRPC names, but a generic client can send them: of the service before the second slash.
      fc.tuple(part, part, part).map(([s, m, x]) => `/${s}/${m}/${x}`),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 8 }), fc.array(method, { maxLength: 20 }), (keys, methods) => {
        const lookup = new MethodLookup(keys);
        // Twice: the second answer comes from the memo.
        for (const name of [...methods, ...methods])
          assert.equal(lookup.indexOf(name), longestMatch(keys, name), name);
      }),
    );
  });

  it('keeps answering past its memo bound (a generic client with any number of names)', () => {
    const lookup = new MethodLookup(['/g.S/']);
    for (let i = 0; i < 3_000; i++) assert.equal(lookup.indexOf(`/g.S/M${i}`), 0);
    assert.equal(lookup.indexOf('/h.S/M1'), -1);
  });
});

describe('method weights validation', () => {
  it('names the key and the field of what it refuses', () => {
    const cases: [unknown, RegExp][] = [
      [[], /^TrafficSplitTypeError: m: expected an object mapping method names/],
      [
        { 'shop.Store/Read': { v1: 1, v2: 0 } },
        /^TrafficSplitTypeError: m\["shop\.Store\/Read"\]: expected a full method name/,
      ],
      [{ '/a/b/c': { v1: 1, v2: 0 } }, /m\["\/a\/b\/c"\]: expected a full method name/],
      [{ '/a b/c': { v1: 1, v2: 0 } }, /m\["\/a b\/c"\]: expected/],
      [{ '/a.S/R': { v1: 1 } }, /m\["\/a\.S\/R"\]\.v2: missing/],
      [{ '/a.S/R': { v1: 0, v2: 0 } }, /m\["\/a\.S\/R"\]: expected at least one weight > 0/],
      [{ '/a.S/R': null }, /m\["\/a\.S\/R"\]: expected an object mapping every subset/],
      [{ [`/a/${'x'.repeat(600)}`]: { v1: 1, v2: 0 } }, /at most 512 characters/],
    ];
    for (const [raw, message] of cases) assert.throws(() => parseMethodWeights(SUBSETS, raw, 'm', false), message);
    const many = Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`/a.S/M${i}`, { v1: 1, v2: 0 }]));
    assert.throws(() => parseMethodWeights(SUBSETS, many, 'm', false), /m: at most 1000 overrides, got 1001/);
  });

  it('takes null as a removal only where removal is allowed', () => {
    assert.deepEqual([...parseMethodWeights(SUBSETS, { '/a.S/R': null }, 'm', true)], [['/a.S/R', null]]);
  });
});

describe('method weight book', () => {
  const book = () => {
    const streams = new StreamBook(2, seededRandom(1), () => 0);
    return new MethodWeightBook(2, seededRandom(2), () => 0, streams);
  };

  it('adds, replaces and removes overrides, keeping the schedules of those it keeps', () => {
    const methods = book();
    assert.equal(methods.apply(new Map([['/a.S/R', [1, 0]]]), false), true);
    const kept = methods.list[0]!.schedules;
    assert.equal(methods.apply(new Map([['/a.S/R', [1, 0]]]), false), false, 'the same weights change nothing');
    methods.apply(
      new Map([
        ['/a.S/R', [0, 1]],
        ['/b.S/', [1, 1]],
      ]),
      false,
    );
    assert.equal(methods.list.find((o) => o.key === '/a.S/R')!.schedules, kept);
    assert.deepEqual(
      [...methods.weights()],
      [
        ['/a.S/R', [0, 1]],
        ['/b.S/', [1, 1]],
      ],
    );
    methods.apply(new Map([['/a.S/R', null]]), false);
    assert.deepEqual([...methods.weights().keys()], ['/b.S/']);
    methods.apply(new Map([['/c.S/X', [1, 0]]]), true);
    assert.deepEqual([...methods.weights().keys()], ['/c.S/X']);
    assert.equal(methods.lookup!.indexOf('/c.S/X'), 0);
    methods.apply(new Map(), true);
    assert.equal(methods.lookup, null);
  });

  it('gives at most MAX_OWN_SCHEDULES methods schedules of their own, which follow the weights that apply', () => {
    const methods = book();
    const weights = Object.freeze([1, 1]);
    const first = methods.ownSchedules('/m/0', weights)!;
    for (let i = 1; i < MAX_OWN_SCHEDULES; i++) assert.notEqual(methods.ownSchedules(`/m/${i}`, weights), null);
    assert.equal(methods.ownSchedules('/m/past-the-bound', weights), null);
    assert.equal(methods.ownSchedules('/m/0', Object.freeze([3, 1])), first);
    assert.deepEqual(first.weights, [3, 1]);
  });
});

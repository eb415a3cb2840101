import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fmix32,
  murmur3String,
  rendezvousPick,
  subsetSeeds,
  STICKY_HASH_VERSION,
} from '../src/algorithms/routing/sticky-hash.js';

const pick = (key: string, names: string[], weights: number[]) =>
  names[rendezvousPick(key, Int32Array.from(names.keys()), weights, subsetSeeds(names))];

describe('sticky hash v1', () => {
  it('matches the published MurmurHash3 x86 32-bit vectors', () => {
    assert.equal(STICKY_HASH_VERSION, 1);
    assert.equal(murmur3String('', 0), 0);
    assert.equal(murmur3String('', 1), 0x514e28b7);
    assert.equal(murmur3String('The quick brown fox jumps over the lazy dog', 0), 0x2e4ff723);
    assert.equal(murmur3String('Hello, world!', 1234), 0xfaf6cdb3);
    assert.equal(murmur3String('foo', 0) | 0, -156908512);
  });

  it('hashes the UTF-8 bytes of non-ASCII keys, surrogate pairs included', () => {
    assert.equal(murmur3String('ü€😀', 0), 0x0e9688f1);
  });

  it("uses MurmurHash3's 32-bit finalizer to mix the key hash per subset", () => {
    assert.equal(fmix32(0), 0);
    assert.equal(fmix32(1), 0x514e28b7);
    assert.equal(fmix32(0xdeadbeef), 0x0de5c6a9);
  });

  it('pins the mapping of sample keys (test vectors of version 1)', () => {
    const twenty = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    assert.deepEqual(
      twenty.map((k) => pick(k, ['v1', 'v2'], [90, 10])),
      [...Array(18).fill('v1'), 'v2', 'v2'],
    );
    assert.deepEqual([...subsetSeeds(['v1', 'v2', 'v3'])], [0xf11a77e1, 0xe1e4868d, 0x9b0619c3]);
    const keys = ['user-1', 'user-2', 'alice', 'bob', ''];
    assert.deepEqual(
      keys.map((k) => pick(k, ['v1', 'v2', 'v3'], [1, 1, 1])),
      ['v2', 'v3', 'v3', 'v3', 'v1'],
    );
  });

  it('gives each subset its share within 2 points over 5,000 keys, and moves keys only toward a raised subset', () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `user-${i}`);
    const at90 = keys.map((k) => pick(k, ['v1', 'v2'], [90, 10]));
    const at80 = keys.map((k) => pick(k, ['v1', 'v2'], [80, 20]));
    const share = (xs: (string | undefined)[]) => xs.filter((x) => x === 'v2').length / xs.length;
    assert.ok(Math.abs(share(at90) - 0.1) <= 0.02, `share at 90/10: ${share(at90)}`);
    assert.ok(Math.abs(share(at80) - 0.2) <= 0.02, `share at 80/20: ${share(at80)}`);
    assert.equal(keys.filter((_, i) => at90[i] === 'v2' && at80[i] === 'v1').length, 0);
  });

  it('is monotone for three subsets: keys move only to a raised subset and only away from a lowered one', () => {
    const names = ['a', 'b', 'c'];
    const keys = Array.from({ length: 3_000 }, (_, i) => `k${i}`);
    const before = keys.map((k) => pick(k, names, [30, 30, 40]));
    const raised = keys.map((k) => pick(k, names, [30, 50, 40]));
    const lowered = keys.map((k) => pick(k, names, [30, 30, 10]));
    keys.forEach((_, i) => {
      if (raised[i] !== before[i]) assert.equal(raised[i], 'b', `key ${i} moved ${before[i]} -> ${raised[i]}`);
      if (lowered[i] !== before[i]) assert.equal(before[i], 'c', `key ${i} moved ${before[i]} -> ${lowered[i]}`);
    });
    assert.ok(raised.filter((x, i) => x !== before[i]).length > 0);
    assert.ok(lowered.filter((x, i) => x !== before[i]).length > 0);
  });

  it('never maps a key to a weight-0 subset, and returns -1 when none is weighted', () => {
    for (let i = 0; i < 500; i++) assert.equal(pick(`k${i}`, ['v1', 'v2'], [0, 1]), 'v2');
    assert.equal(rendezvousPick('x', Int32Array.from([0, 1]), [0, 0], subsetSeeds(['v1', 'v2'])), -1);
  });
});

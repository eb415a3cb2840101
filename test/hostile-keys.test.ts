import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { aggregateState } from '../src/policy/balancer/aggregate-state.js';
import { SplitState } from '../src/policy/balancer/split-state.js';
import { RESERVED_HEADER } from '../src/policy/call/call-context.js';
import { completingPicker } from './helpers/fake-child-policy.js';
import { routingOf } from './helpers/routing-table.js';
import {
  murmur3,
  murmur3String,
  rendezvousPick,
  SCRATCH_KEY_LENGTH,
  scratchBytes,
  subsetSeeds,
} from '../src/algorithms/routing/sticky-hash.js';

/** Counts String.prototype.split calls while `action` runs. */
function countSplits(action: () => void): number {
  const original = String.prototype.split;
  let calls = 0;
  String.prototype.split = function (this: string, ...args: Parameters<typeof original>) {
    calls++;
    return original.apply(this, args);
  } as typeof original;
  try {
    action();
  } finally {
    String.prototype.split = original;
  }
  return calls;
}

describe('hostile hints and sticky keys', () => {
  it('never parses the reserved header: a forged 1 MB hint with 500k ";" is removed unread by the picker', () => {
    const forged = `forged-token${';s=v2'.repeat(100_000)}${';'.repeat(500_000)}`.slice(0, 1 << 20);
    const state = new SplitState('split', ['v1', 'v2'], [1, 0], undefined, 3);
    const ready = (name: string) => ({
      name,
      state: grpc.connectivityState.READY,
      picker: completingPicker(name),
      lastError: null,
      inGrace: false,
    });
    const { picker } = aggregateState([ready('v1'), ready('v2')], state, false, routingOf(state));
    const metadata = new Metadata();
    metadata.set(RESERVED_HEADER, forged);
    assert.equal(metadata.get(RESERVED_HEADER).length, 1);
    let label = 'not run';
    assert.equal(
      countSplits(
        () =>
          (label = (picker.pick({ metadata, extraPickInfo: {} }).subchannel as unknown as { label: string }).label),
      ),
      0,
    );
    assert.equal(label, 'v1');
    assert.deepEqual(metadata.get(RESERVED_HEADER), []);
  });

  it('hashes keys longer than the scratch buffer to the same value, lone surrogates included', () => {
    const encoder = new TextEncoder();
    const pieces = ['a', 'é', '\u20ac', '\ud83d\ude00', '\ud800', '\udfff', 'z'];
    for (const length of [
      SCRATCH_KEY_LENGTH - 1,
      SCRATCH_KEY_LENGTH,
      SCRATCH_KEY_LENGTH + 1,
      3 * SCRATCH_KEY_LENGTH + 7,
    ]) {
      let key = '';
      for (let i = 0; key.length < length; i++) key += pieces[(i * 7) % pieces.length];
      key = key.slice(0, length);
      const bytes = encoder.encode(key);
      assert.equal(murmur3String(key, 0), murmur3(bytes, bytes.length, 0), `length ${length}`);
    }
  });

  it('keeps the scratch buffer bounded after a 16 MB key (it used to keep 3 bytes per character)', () => {
    const huge = 'x'.repeat(16 * 1024 * 1024);
    const seeds = subsetSeeds(['v1', 'v2']);
    const subset = rendezvousPick(huge, [0, 1], [1, 1], seeds);
    assert.ok(subset === 0 || subset === 1);
    assert.ok(scratchBytes() <= 3 * SCRATCH_KEY_LENGTH, `scratch is ${scratchBytes()} bytes`);
    const bytes = Buffer.from(huge);
    assert.equal(murmur3String(huge, 0), murmur3(bytes, bytes.length, 0));
  });
});

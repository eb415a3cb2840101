/**
 * The mirror's byte bound and its work on large bodies, without gRPC: the bound over every
 * configuration of a split, samples within it, and comparisons that yield to the event loop.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { settleCopy, type EndedSide } from '../src/policy/mirror/mirror-compare.js';
import {
  emptyCounts,
  MirrorFigures,
  sampleBytes,
  type ByteBudget,
  type MirrorSample,
} from '../src/policy/mirror/mirror-figures.js';
import { parseMirrorOptions } from '../src/policy/mirror/mirror-options.js';
import { equalInSlices, sha256InSlices, SLICE_BYTES } from '../src/policy/mirror/mirror-slices.js';
import { MirrorController } from '../src/policy/mirror/mirror.js';

/** A byte budget of `limit` bytes that records what it holds. */
function budget(limit: number): ByteBudget & { held: number } {
  const state = {
    held: 0,
    reserve(bytes: number): boolean {
      if (state.held + bytes > limit) return false;
      state.held += bytes;
      return true;
    },
    release(bytes: number): void {
      state.held -= bytes;
    },
  };
  return state;
}

function sample(reason: string, bodyBytes: number | null = null): MirrorSample {
  const side =
    bodyBytes === null
      ? { status: 'OK' as const, bytes: 10, sha256: 'ab' }
      : { status: 'OK' as const, bytes: bodyBytes, sha256: 'ab', response: { text: 'x' } };
  return {
    at: '2024-01-01T00:00:00.000Z',
    method: '/test.Echo/Echo',
    reason,
    primary: { ...side },
    mirror: { ...side },
  };
}

/** Turns of the event loop that ran while `work` was pending. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work();
  done = true;
  return { value, turns };
}

const ok = (bytes: Buffer | null): EndedSide => ({ code: 0, details: '', headers: null, trailers: null, bytes });

describe('the mirror byte bound', () => {
  it(
    'is one bound over every configuration of a split: a new ' +
      'configuration gets no fresh budget, and uses its own limit',
    () => {
      const controller = new MirrorController(['v1', 'v2'], 'bytes-1', 'traffic-split:///bytes-1');
      controller.set(parseMirrorOptions({ subset: 'v2', percent: 10, maxBufferedBytes: 1_000 }, ['v1', 'v2']));
      const first = controller.session!;
      assert.equal(first.budget.reserve(600), true);
      assert.equal(first.budget.reserve(401), false, '600 + 401 would pass 1,000');
      controller.set(parseMirrorOptions({ subset: 'v2', percent: 10, maxBufferedBytes: 1_500 }, ['v1', 'v2']));
      const second = controller.session!;
      assert.equal(second.budget.reserve(901), false, 'the first configuration still holds 600');
      assert.equal(second.budget.reserve(900), true);
      assert.equal(controller.stats()!.bufferedBytes, 1_500);
      first.budget.release(600);
      second.budget.release(900);
      assert.equal(controller.stats()!.bufferedBytes, 0);
      controller.close();
    },
  );

  it(
    'keeps samples within it: bodies go first when a sample does not fit, then ' +
      'the oldest samples give way; a replaced configuration lets go of its own',
    () => {
      const bound = budget(3_000);
      const figures = new MirrorFigures(emptyCounts(), 5, bound);
      const reasons = () =>
        figures
          .snapshot('v2', 10, true, bound.held)
          .samples.map((s) => `${s.reason}${'response' in s.mirror ? '+bodies' : ''}`);
      const each = sampleBytes(sample('x'));
      const withBodies = sampleBytes(sample('0', 300));
      assert.equal(withBodies, each + 2 * 2 * 300, 'a body counts twice its serialized size');
      figures.settled('mismatched', sample('0', 300), false);
      figures.settled('mismatched', sample('1'), false);
      // 2 x 1,000 bytes of bodies, counted twice: over the bound even alone.
      figures.settled('mismatched', sample('2', 1_000), false);
      assert.deepEqual(reasons(), ['0+bodies', '1', '2']);
      assert.equal(bound.held, withBodies + 2 * each);
      // Copies in flight hold the rest of the bound: a new sample takes the place of the oldest.
      const others = 3_000 - bound.held;
      assert.equal(bound.reserve(others), true);
      figures.settled('mismatched', sample('3'), false);
      assert.deepEqual(reasons(), ['1', '2', '3']);
      assert.equal(bound.held, others + 3 * each);
      figures.retire();
      assert.equal(bound.held, others);
      figures.settled('mismatched', sample('4'), false);
      assert.equal(bound.held, others, 'a retired configuration keeps no sample');
    },
  );

  it('counts every drop by its reason', () => {
    const figures = new MirrorFigures(emptyCounts(), 5, budget(0));
    figures.dropped('maxBufferedBytes');
    figures.dropped('maxBufferedBytes');
    figures.dropped('maxInFlight');
    figures.dropped('primaryEnded');
    const stats = figures.snapshot('v2', 10, true, 0);
    assert.equal(stats.dropped, 4);
    assert.deepEqual(stats.droppedBy, {
      maxInFlight: 1,
      maxBufferedBytes: 2,
      noTimeLeft: 0,
      mirrorChanged: 0,
      primaryEnded: 1,
    });
    assert.equal(stats.lifetime.dropped, 4);
  });
});

describe('comparing large bodies', () => {
  const size = 8 * 1024 * 1024;
  const a = Buffer.alloc(size, 7);
  const b = Buffer.alloc(size, 7);
  const c = Buffer.from(b);
  c[size - 1] = 8;

  it('compares bytes a slice per turn of the event loop', async () => {
    // A slice of at most 1 MiB: a memcmp or a hash of it takes well under a few milliseconds.
    assert.ok(SLICE_BYTES <= 1024 * 1024 && size / SLICE_BYTES >= 8, `slices of ${SLICE_BYTES} bytes`);
    const same = await turnsDuring(() => equalInSlices(a, b));
    const differ = await turnsDuring(() => equalInSlices(a, c));
    assert.deepEqual([same.value, differ.value], [true, false]);
    assert.ok(same.turns >= size / SLICE_BYTES - 1, `${same.turns} turns during the comparison`);
    assert.ok(differ.turns >= size / SLICE_BYTES - 1, `${differ.turns} turns during the comparison`);
    assert.equal(await equalInSlices(a, a.subarray(1)), false);
    assert.equal(await equalInSlices(Buffer.alloc(0), Buffer.alloc(0)), true);
  });

  it('hashes a slice per turn, to the same digest as one pass', async () => {
    const { value, turns } = await turnsDuring(() => sha256InSlices(c));
    assert.equal(value, createHash('sha256').update(c).digest('hex'));
    assert.ok(turns >= size / SLICE_BYTES - 1, `${turns} turns during the hash`);
    assert.equal(await sha256InSlices(Buffer.alloc(0)), createHash('sha256').digest('hex'));
  });

  it('settles a copy of 8 MiB over many turns: the comparison, then both hashes of the sample', async () => {
    const settings = parseMirrorOptions({ subset: 'v2', percent: 10, compare: true }, ['v1', 'v2']);
    const { value, turns } = await turnsDuring(() =>
      settleCopy(settings, '/test.Echo/Echo', ok(a), ok(c), (bytes) => bytes),
    );
    assert.equal(value.verdict, 'mismatched');
    assert.equal(value.sample!.reason, `response differs (${size} vs ${size} bytes)`);
    assert.equal(value.sample!.mirror.sha256, createHash('sha256').update(c).digest('hex'));
    assert.ok(turns >= 3 * (size / SLICE_BYTES - 1), `${turns} turns while settling`);
  });
});

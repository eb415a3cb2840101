import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrafficSplit, TrafficSplitRangeError, TrafficSplitTypeError, type MirrorOptions } from '../src/index.js';
import { mirrorSettingsJson, settingsToOptions } from '../src/policy/mirror/mirror-options.js';

const subsets = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2', base: 'ipv4:127.0.0.1:3' };
const weights = { v1: 100, v2: 0, base: 0 };
const decode = (bytes: Buffer): unknown => JSON.parse(bytes.toString());

const cases: {
  name: string;
  input: MirrorOptions;
  error: string;
  type: typeof TrafficSplitTypeError | typeof TrafficSplitRangeError;
}[] = [
  {
    name: 'not-an-object',
    input: { subset: 'v2', percent: 10, noise: 'base' as never },
    error: 'mirror.noise: expected an object with "subset", got `"base"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'unknown-subset',
    input: { subset: 'v2', percent: 10, noise: { subset: 'v3' } },
    error: 'mirror.noise.subset: expected one of the subsets v1, v2, base, got `"v3"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'the-mirror-subset',
    input: { subset: 'v2', percent: 10, noise: { subset: 'v2' } },
    error:
      'mirror.noise.subset: expected a subset other than the mirror subset ' +
      '"v2" (the baseline runs the primaries\' version), got `"v2"` (string)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'a-subset-with-traffic',
    input: { subset: 'v2', percent: 10, noise: { subset: 'v1' } },
    error:
      'mirror.noise.subset: expected a subset at weight 0 (a baseline gets ' +
      'copies only; weights {"v1":100,"v2":0,"base":0}), got `"v1"` (string)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'compare-off',
    input: { subset: 'v2', percent: 10, compare: false, noise: { subset: 'base' } },
    error:
      'mirror.compare: expected true or a function when noise is ' +
      'set (a baseline is for comparing), got `false` (boolean)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'decode-not-a-function',
    input: { subset: 'v2', percent: 10, noise: { subset: 'base', decode: 'json' as never } },
    error: 'mirror.noise.decode: expected a function (bytes, method) => object, got `"json"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'decode-with-a-comparator',
    input: { subset: 'v2', percent: 10, compare: () => true, noise: { subset: 'base', decode } },
    error:
      'mirror.noise.decode: expected no decoder with a compare function (the ' +
      'function decides what is equal), got `function decode` (function)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'ratio-over',
    input: { subset: 'v2', percent: 10, noise: { subset: 'base', ratio: 1.5 } },
    error: 'mirror.noise.ratio: expected a finite number from 0 to 1, got `1.5` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'typo',
    input: { subset: 'v2', percent: 10, noise: { subset: 'base', ration: 1 } as never },
    error: 'mirror.noise.ration: unknown option (known: subset, decode, ratio), got `1` (number)',
    type: TrafficSplitTypeError,
  },
];

describe('mirror noise options', () => {
  for (const { name, input, error, type } of cases) {
    it(`refuses ${name} with a message naming the field, in setMirror() and the constructor`, (t) => {
      const split = new TrafficSplit({ subsets, weights });
      t.after(() => split.close());
      assert.throws(
        () => split.setMirror(input),
        (e: unknown) => e instanceof type && (e as Error).message === error,
      );
      assert.equal(split.getMirror(), null);
      assert.throws(() => new TrafficSplit({ subsets, weights, mirror: input }), { message: error });
    });
  }

  it('fills in the defaults (comparing on), and round-trips through the options and the admin JSON', (t) => {
    const split = new TrafficSplit({
      subsets,
      weights,
      mirror: { subset: 'v2', percent: 10, noise: { subset: 'base', decode } },
    });
    t.after(() => split.close());
    const settings = split.getMirror()!;
    assert.deepEqual(settings, {
      subset: 'v2',
      percent: 10,
      compare: true,
      maxInFlight: 100,
      timeoutMs: null,
      methods: null,
      keepBodies: false,
      maxSamples: 20,
      maxBufferedBytes: 16 * 1024 * 1024,
      noise: { subset: 'base', decode, ratio: 2 / 3 },
    });
    assert.ok(Object.isFrozen(settings.noise));
    assert.deepEqual((mirrorSettingsJson(settings) as { noise: unknown }).noise, {
      subset: 'base',
      decode: 'function',
      ratio: 2 / 3,
    });
    split.setMirror(settingsToOptions(settings));
    assert.deepEqual(split.getMirror(), settings);
    split.setMirror({ subset: 'v2', percent: 10, noise: { subset: 'base', decode: null, ratio: 0 } });
    assert.deepEqual(split.getMirror()!.noise, { subset: 'base', decode: null, ratio: 0 });
    // From JSON (PUT /mirror): no decoder, whole answers compared three ways.
    split.setMirror(JSON.parse('{"subset":"v2","percent":5,"noise":{"subset":"base"}}'));
    assert.deepEqual(
      [split.getMirror()!.compare, split.getMirror()!.noise],
      [true, { subset: 'base', decode: null, ratio: 2 / 3 }],
    );
    split.setMirror({ subset: 'v2', percent: 5 });
    assert.equal('noise' in split.getMirror()!, false);
    assert.equal('noise' in split.stats().mirror!, false);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TrafficSplit,
  TrafficSplitClosedError,
  TrafficSplitRangeError,
  TrafficSplitTypeError,
  type MirrorOptions,
} from '../src/index.js';

const subsets = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' };

const cases: {
  name: string;
  input: unknown;
  error: string;
  type: typeof TrafficSplitTypeError | typeof TrafficSplitRangeError;
}[] = [
  {
    name: 'unknown-subset',
    input: { subset: 'v3', percent: 10 },
    error: 'mirror.subset: expected one of the subsets v1, v2, got `"v3"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'percent-string',
    input: { subset: 'v2', percent: '10' },
    error: 'mirror.percent: expected a finite number from 0 to 100, got `"10"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'percent-over',
    input: { subset: 'v2', percent: 101 },
    error: 'mirror.percent: expected a finite number from 0 to 100, got `101` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'percent-nan',
    input: { subset: 'v2', percent: NaN },
    error: 'mirror.percent: expected a finite number from 0 to 100, got `NaN` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'compare-string',
    input: { subset: 'v2', percent: 10, compare: 'yes' },
    error:
      'mirror.compare: expected a boolean or a function (primary, mirror) => boolean | string, got `"yes"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'max-in-flight-zero',
    input: { subset: 'v2', percent: 10, maxInFlight: 0 },
    error: 'mirror.maxInFlight: expected an integer from 1 to 1000000, got `0` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'timeout-negative',
    input: { subset: 'v2', percent: 10, timeoutMs: -1 },
    error: 'mirror.timeoutMs: expected an integer from 1 to 2147483647, got `-1` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'methods-short-name',
    input: { subset: 'v2', percent: 10, methods: ['Echo'] },
    error: 'mirror.methods[0]: expected a full method name such as "/pkg.Service/Method", got `"Echo"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'methods-empty',
    input: { subset: 'v2', percent: 10, methods: [] },
    error:
      'mirror.methods: expected a list of 1 to 1000 full method names such as "/pkg.Service/Method", got `[]` (array)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'max-buffered-bytes-string',
    input: { subset: 'v2', percent: 10, maxBufferedBytes: '16MiB' },
    error: 'mirror.maxBufferedBytes: expected an integer number of bytes from 0 to 2^40, got `"16MiB"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'max-buffered-bytes-negative',
    input: { subset: 'v2', percent: 10, maxBufferedBytes: -1 },
    error: 'mirror.maxBufferedBytes: expected an integer number of bytes from 0 to 2^40, got `-1` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'max-buffered-bytes-fraction',
    input: { subset: 'v2', percent: 10, maxBufferedBytes: 1.5 },
    error: 'mirror.maxBufferedBytes: expected an integer number of bytes from 0 to 2^40, got `1.5` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'max-buffered-bytes-over',
    input: { subset: 'v2', percent: 10, maxBufferedBytes: 2 ** 40 + 1 },
    error: 'mirror.maxBufferedBytes: expected an integer number of bytes from 0 to 2^40, got `1099511627777` (number)',
    type: TrafficSplitRangeError,
  },
  {
    name: 'keep-bodies-number',
    input: { subset: 'v2', percent: 10, keepBodies: 1 },
    error: 'mirror.keepBodies: expected a boolean, got `1` (number)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'typo',
    input: { subset: 'v2', persent: 10 },
    error:
      'mirror.persent: unknown option (known: subset, percent, compare, maxInFlight, ' +
      'timeoutMs, methods, keepBodies, maxSamples, maxBufferedBytes, noise), got `10` (number)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'not-an-object',
    input: 'v2',
    error: 'mirror: expected an object with "subset" and "percent", or null, got `"v2"` (string)',
    type: TrafficSplitTypeError,
  },
  {
    name: 'proto',
    input: JSON.parse('{"subset":"v2","percent":10,"__proto__":{"x":1}}'),
    error:
      'mirror.__proto__: unknown option (known: subset, percent, compare, maxInFlight, timeoutMs, ' +
      'methods, keepBodies, maxSamples, maxBufferedBytes, noise), got `{"x":1}` (object)',
    type: TrafficSplitTypeError,
  },
];

describe('mirror options', () => {
  for (const { name, input, error, type } of cases) {
    it(`refuses ${name} with a message naming the field and leaves the mirror in force`, (t) => {
      const split = new TrafficSplit({ subsets, weights: { v1: 100, v2: 0 }, mirror: { subset: 'v2', percent: 5 } });
      t.after(() => split.close());
      const before = split.getMirror();
      let events = 0;
      split.on('mirror', () => events++);
      assert.throws(
        () => split.setMirror(input as MirrorOptions),
        (e: unknown) =>
          e instanceof type &&
          (e as Error).message === error &&
          (e as { code: string }).code === 'ERR_SPLIT_INVALID_CONFIG',
      );
      assert.equal(split.getMirror(), before);
      assert.equal(events, 0);
      // The same check in the constructor.
      assert.throws(() => new TrafficSplit({ subsets, weights: { v1: 100, v2: 0 }, mirror: input as MirrorOptions }), {
        message: error,
      });
    });
  }

  it('fills in the defaults, reports them, and emits a mirror event', (t) => {
    const split = new TrafficSplit({ subsets, weights: { v1: 100, v2: 0 } });
    t.after(() => split.close());
    assert.equal(split.getMirror(), null);
    assert.equal(split.stats().mirror, null);
    const events: unknown[] = [];
    split.on('mirror', (change) => events.push(change));
    split.setMirror({ subset: 'v2', percent: 12.5 });
    const settings = {
      subset: 'v2',
      percent: 12.5,
      compare: false,
      maxInFlight: 100,
      timeoutMs: null,
      methods: null,
      keepBodies: false,
      maxSamples: 20,
      maxBufferedBytes: 16 * 1024 * 1024,
    };
    assert.deepEqual(split.getMirror(), settings);
    assert.ok(Object.isFrozen(split.getMirror()));
    split.setMirror(null);
    assert.deepEqual(events, [
      { mirror: settings, previous: null },
      { mirror: null, previous: settings },
    ]);
    const stats = split.stats().mirror!;
    assert.deepEqual([stats.subset, stats.percent, stats.active, stats.sent], ['v2', 12.5, false, 0]);
  });

  it('refuses setMirror() after close()', () => {
    const split = new TrafficSplit({ subsets, weights: { v1: 100, v2: 0 } });
    split.close();
    assert.throws(() => split.setMirror(null), TrafficSplitClosedError);
  });
});

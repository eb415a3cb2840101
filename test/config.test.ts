import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, TrafficSplit, TrafficSplitRangeError, TrafficSplitTypeError } from '../src/index.js';
import { configToJson, parsePolicyConfig } from '../src/policy/balancer/config.js';

const subsets = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' };

interface Case {
  name: string;
  input: unknown;
  error: RegExp | string;
  kind: typeof TypeError | typeof RangeError;
}

const invalid: Case[] = [
  {
    name: 'non-object',
    input: 'v1=90',
    kind: TypeError,
    error: 'config: expected an object with "subsets" and "weights", got `"v1=90"` (string)',
  },
  {
    name: 'null',
    input: null,
    kind: TypeError,
    error: 'config: expected an object with "subsets" and "weights", got `null` (null)',
  },
  {
    name: 'array',
    input: [],
    kind: TypeError,
    error: 'config: expected an object with "subsets" and "weights", got `[]` (array)',
  },
  {
    name: 'unknown key',
    input: { subsets, weigths: { v1: 1 } },
    kind: TypeError,
    error:
      /^weigths: unknown option \(known: subsets, weights, childPolicy, reresolveIntervalMs, fallbackToZeroWeight, connectGraceMs, stickyKey, rules\), got `\{"v1":1\}` \(object\)$/,
  },
  {
    name: 'no subsets',
    input: { subsets: {}, weights: {} },
    kind: TypeError,
    error: 'subsets: expected at least one subset, got `{}` (object)',
  },
  {
    name: 'bad subset name',
    input: { subsets: { '1x': 'a' }, weights: {} },
    kind: TypeError,
    error: /^subsets: expected subset names matching .*, got `"1x"` \(string\)$/,
  },
  {
    name: 'bad target',
    input: { subsets: { v1: 5 }, weights: { v1: 1 } },
    kind: TypeError,
    error: 'subsets.v1: expected a non-empty target URI string, got `5` (number)',
  },
  {
    name: 'missing weights',
    input: { subsets },
    kind: TypeError,
    error: 'weights: expected an object mapping every subset to a weight, got undefined',
  },
  {
    name: 'unknown subset',
    input: { subsets, weights: { v1: 1, v2: 1, v3: 5 } },
    kind: TypeError,
    error: 'weights.v3: unknown subset (subsets: v1, v2), got `5` (number)',
  },
  {
    name: 'missing subset weight',
    input: { subsets, weights: { v1: 1 } },
    kind: TypeError,
    error: 'weights.v2: missing; every subset needs a weight (0 sends it no calls)',
  },
  {
    name: 'string weight',
    input: { subsets, weights: { v1: 1, v2: '10' } },
    kind: TypeError,
    error: 'weights.v2: expected a finite number from 0 to 1000000000, got `"10"` (string)',
  },
  {
    name: 'negative weight',
    input: { subsets, weights: { v1: 1, v2: -1 } },
    kind: RangeError,
    error: 'weights.v2: expected a finite number from 0 to 1000000000, got `-1` (number)',
  },
  {
    name: 'NaN weight',
    input: { subsets, weights: { v1: 1, v2: NaN } },
    kind: RangeError,
    error: 'weights.v2: expected a finite number from 0 to 1000000000, got `NaN` (number)',
  },
  {
    name: 'infinite weight',
    input: { subsets, weights: { v1: Infinity, v2: 1 } },
    kind: RangeError,
    error: 'weights.v1: expected a finite number from 0 to 1000000000, got `Infinity` (number)',
  },
  {
    name: 'huge weight',
    input: { subsets, weights: { v1: 1e300, v2: 1 } },
    kind: RangeError,
    error: 'weights.v1: expected a finite number from 0 to 1000000000, got `1e+300` (number)',
  },
  {
    name: 'all zero',
    input: { subsets, weights: { v1: 0, v2: 0 } },
    kind: RangeError,
    error: 'weights: expected at least one weight > 0, got `{"v1":0,"v2":0}` (object)',
  },
  {
    name: '__proto__ key',
    input: JSON.parse('{"subsets":{"v1":"a"},"weights":{"v1":1,"__proto__":{"v1":0}}}'),
    kind: TypeError,
    error: 'weights.__proto__: unknown subset (subsets: v1), got `{"v1":0}` (object)',
  },
  {
    name: 'child policy not a list',
    input: { subsets, weights: { v1: 1, v2: 1 }, childPolicy: { round_robin: {} } },
    kind: TypeError,
    error: /^childPolicy: expected a non-empty list of load-balancing configs/,
  },
  {
    name: 'unknown child policy',
    input: { subsets, weights: { v1: 1, v2: 1 }, childPolicy: [{ no_such_policy: {} }] },
    kind: TypeError,
    error: 'childPolicy: expected at least one registered, valid policy, got `[{"no_such_policy":{}}]` (array)',
  },
  {
    name: 'traffic_split as its own child policy',
    input: { subsets, weights: { v1: 1, v2: 1 }, childPolicy: [{ traffic_split: {} }] },
    kind: TypeError,
    error: 'childPolicy[0]: expected a policy other than traffic_split, got `{"traffic_split":{}}` (object)',
  },
  {
    name: 'huge unknown key',
    input: { subsets, weights: { v1: 1, v2: 1, ['k'.repeat(100_000)]: 1 } },
    kind: TypeError,
    error: `weights.${'k'.repeat(61)}...: unknown subset (subsets: v1, v2), got \`1\` (number)`,
  },
  {
    name: 'negative grace',
    input: { subsets, weights: { v1: 1, v2: 1 }, connectGraceMs: -1 },
    kind: RangeError,
    error: 'connectGraceMs: expected an integer from 0 (off) to 2147483647, got `-1` (number)',
  },
  {
    name: 'string grace',
    input: { subsets, weights: { v1: 1, v2: 1 }, connectGraceMs: '500' },
    kind: TypeError,
    error: /^connectGraceMs: expected .*, got `"500"` \(string\)$/,
  },
  {
    name: 'fractional interval',
    input: { subsets, weights: { v1: 1, v2: 1 }, reresolveIntervalMs: 1.5 },
    kind: RangeError,
    error: 'reresolveIntervalMs: expected an integer from 0 (off) to 2147483647, got `1.5` (number)',
  },
  {
    name: 'string fallback flag',
    input: { subsets, weights: { v1: 1, v2: 1 }, fallbackToZeroWeight: 'yes' },
    kind: TypeError,
    error: 'fallbackToZeroWeight: expected a boolean, got `"yes"` (string)',
  },
];

const valid = [
  { name: 'minimal', input: { subsets, weights: { v1: 90, v2: 10 } } },
  { name: 'zero-weight', input: { subsets, weights: { v1: 0, v2: 1 } } },
  {
    name: 'all options',
    input: {
      subsets,
      weights: { v1: 0.5, v2: 1 },
      childPolicy: [{ pick_first: {} }],
      reresolveIntervalMs: 0,
      fallbackToZeroWeight: true,
      connectGraceMs: 0,
    },
  },
];

describe('parseConfig', () => {
  for (const c of invalid) {
    it(`rejects ${c.name} with a message naming the field and value`, () => {
      const expected =
        typeof c.error === 'string'
          ? `traffic_split: ${c.error}`
          : new RegExp(`^traffic_split: ${c.error.source.slice(1)}`);
      assert.throws(
        () => parseConfig(c.input),
        (error: Error) => {
          assert.ok(error instanceof c.kind, `${error.name} is not a ${c.kind.name}`);
          assert.ok(error instanceof TrafficSplitTypeError || error instanceof TrafficSplitRangeError);
          assert.equal((error as TrafficSplitTypeError).code, 'ERR_SPLIT_INVALID_CONFIG');
          if (typeof expected === 'string') assert.equal(error.message, expected);
          else assert.match(error.message, expected);
          return true;
        },
      );
    });
  }

  for (const c of valid) {
    it(`accepts ${c.name} and round-trips through its JSON form`, () => {
      const parsed = parseConfig(c.input);
      assert.deepEqual(parsed.subsets, c.input.subsets);
      assert.deepEqual(parsed.weights, c.input.weights);
      assert.deepEqual(parseConfig(JSON.parse(JSON.stringify(parsed))), parsed);
    });
  }

  it('fills the documented defaults', () => {
    const parsed = parseConfig({ subsets, weights: { v1: 1, v2: 1 } });
    assert.deepEqual(parsed.childPolicy, [{ round_robin: {} }]);
    assert.equal(parsed.reresolveIntervalMs, 30_000);
    assert.equal(parsed.fallbackToZeroWeight, false);
  });
});

describe('TrafficSplit options', () => {
  for (const c of invalid.filter((c) => c.name !== 'unknown key')) {
    it(`rejects ${c.name} at construction`, () => {
      assert.throws(
        () => new TrafficSplit(c.input as never),
        (error: Error) => {
          assert.ok(error instanceof c.kind);
          if (typeof c.error === 'string') assert.equal(error.message, c.error.replace(/^config:/, 'options:'));
          else assert.match(error.message, c.error);
          return true;
        },
      );
    });
  }

  it('rejects an unknown option key, listing the known ones', () => {
    assert.throws(() => new TrafficSplit({ subsets, weights: { v1: 1, v2: 1 }, wieghts: {} } as never), {
      name: 'TrafficSplitTypeError',
      message:
        'wieghts: unknown option (known: subsets, weights, childPolicy, reresolveIntervalMs, ' +
        'fallbackToZeroWeight, connectGraceMs, stickyKey, rules, name, authority, retryOnOtherSubset, ' +
        'scheduleSeed, clock, rebalanceStreams, maxStreamAgeMs, mirror, methodWeights, methodFigures), got `{}` (object)',
    });
  });

  it('rejects a bad name and a bad authority', () => {
    assert.throws(() => new TrafficSplit({ subsets, weights: { v1: 1, v2: 1 }, name: 'a b' }), {
      message: /^name: expected a string matching .*, got `"a b"` \(string\)$/,
    });
    assert.throws(() => new TrafficSplit({ subsets, weights: { v1: 1, v2: 1 }, authority: 'x/y' }), {
      message: 'authority: expected a host[:port] string, got `"x/y"` (string)',
    });
  });

  it('rejects a clock without its methods, and a seed that is not a safe integer', () => {
    assert.throws(() => new TrafficSplit({ subsets, weights: { v1: 1, v2: 1 }, clock: { now: () => 0 } as never }), {
      name: 'TrafficSplitTypeError',
      message: 'clock.setTimeout: expected a function, got undefined',
    });
    assert.throws(() => new TrafficSplit({ subsets, weights: { v1: 1, v2: 1 }, scheduleSeed: 1.5 }), {
      name: 'TrafficSplitRangeError',
      message: 'scheduleSeed: expected a safe integer, got `1.5` (number)',
    });
  });
});

describe('setWeights validation', () => {
  const split = new TrafficSplit({ subsets, weights: { v1: 90, v2: 10 } });
  const bad: [unknown, string][] = [
    [{ v1: 10 }, 'weights.v2: missing; every subset needs a weight (0 sends it no calls)'],
    [{ v1: 10, v2: 90, v3: 1 }, 'weights.v3: unknown subset (subsets: v1, v2), got `1` (number)'],
    [{ v1: -1, v2: 90 }, 'weights.v1: expected a finite number from 0 to 1000000000, got `-1` (number)'],
    [{ v1: NaN, v2: 90 }, 'weights.v1: expected a finite number from 0 to 1000000000, got `NaN` (number)'],
    [{ v1: 0, v2: 0 }, 'weights: expected at least one weight > 0, got `{"v1":0,"v2":0}` (object)'],
    [{ v1: '10', v2: 90 }, 'weights.v1: expected a finite number from 0 to 1000000000, got `"10"` (string)'],
    [null, 'weights: expected an object mapping every subset to a weight, got `null` (null)'],
    [[10, 90], 'weights: expected an object mapping every subset to a weight, got `[10,90]` (array)'],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${JSON.stringify(input)} and keeps 90/10 in force`, () => {
      assert.throws(() => split.setWeights(input as never), { message });
      assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    });
  }

  it('stores a weight of -0 as 0', (t) => {
    const split = new TrafficSplit({
      subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' },
      weights: { v1: -0, v2: 1 },
    });
    t.after(() => split.close());
    assert.ok(Object.is(split.getWeights()['v1'], 0));
    assert.equal(JSON.stringify(split.toJSON().weights), '{"v1":0,"v2":1}');
  });

  it('rejects any use after close() with a clear error', () => {
    const closing = new TrafficSplit({ subsets, weights: { v1: 1, v2: 1 }, name: 'closing' });
    closing.close();
    assert.throws(() => closing.setWeights({ v1: 1, v2: 2 }), {
      name: 'TrafficSplitClosedError',
      code: 'ERR_SPLIT_CLOSED',
      message: 'traffic split "closing" is closed; setWeights() is not possible',
    });
    assert.deepEqual(closing.getWeights(), { v1: 1, v2: 1 });
    split.close();
  });
});

describe('the policy config a split hands its channels', () => {
  it('names the split in place of the weights, and parses back to the same', () => {
    const config = parsePolicyConfig({ subsets, weightsFrom: 'split-7' });
    assert.equal(config.weights, null);
    assert.equal(config.weightsFrom, 'split-7');
    assert.deepEqual(configToJson(config), {
      subsets,
      weightsFrom: 'split-7',
      childPolicy: [{ round_robin: {} }],
      reresolveIntervalMs: 30_000,
      fallbackToZeroWeight: false,
      connectGraceMs: 1_000,
    });
    assert.deepEqual(parsePolicyConfig(configToJson(config)), config);
  });

  it('takes weights or weightsFrom, not both; users write weights', () => {
    assert.throws(() => parsePolicyConfig({ subsets, weights: { v1: 1, v2: 1 }, weightsFrom: 'split-7' }), {
      name: 'TrafficSplitTypeError',
      message:
        'weights: expected no "weights" beside "weightsFrom" (the ' +
        'weights come from the split), got `{"v1":1,"v2":1}` (object)',
    });
    assert.throws(() => parsePolicyConfig({ subsets, weightsFrom: ' ' }), {
      message: 'weightsFrom: expected the id of a split in this process, got `" "` (string)',
    });
    assert.throws(() => parseConfig({ subsets, weightsFrom: 'split-7' }), {
      message: /^traffic_split: weightsFrom: unknown option \(known: subsets, weights, /,
    });
    assert.equal(parsePolicyConfig({ subsets, weights: { v1: 1, v2: 3 } }).weightsFrom, null);
  });
});

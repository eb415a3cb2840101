/**
 * Bad input, fuzzed with fast-check: every input to the constructor, setWeights(), route(),
 * subsetFor(), sticky keys and the service config is either accepted with a defined result or
 * rejected with a TypeError/RangeError whose message starts with a field path; a rejection never
 * changes the weights in force, and nothing crashes the process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { parseConfig, register, TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';
import { countOf } from './helpers/sequences.js';
import { murmur3, murmur3String } from '../src/algorithms/routing/sticky-hash.js';

/** Loopback ports nothing listens on. */
const TARGETS = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2', constructor: 'ipv4:127.0.0.1:3' };
const OPTION_KEYS = [
  'subsets',
  'weights',
  'childPolicy',
  'reresolveIntervalMs',
  'fallbackToZeroWeight',
  'stickyKey',
  'rules',
  'name',
  'authority',
  'retryOnOtherSubset',
];

/** Every field path an error about `input` may name: its own key paths, the known fields,
 * and `weights.<subset>` for each subset it declares. */
function fieldPaths(input: unknown, roots: readonly string[], prefix = ''): Set<string> {
  const paths = new Set<string>(roots);
  const visit = (value: unknown, path: string, depth: number): void => {
    if (depth > 4 || typeof value !== 'object' || value === null) return;
    let keys: string[];
    try {
      keys = Object.keys(value);
    } catch {
      return;
    }
    for (const key of keys.slice(0, 2_000)) {
      const child = Array.isArray(value) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
      paths.add(child);
      // Messages show at most 64 characters of a key.
      if (key.length > 64) paths.add(child.slice(0, child.length - key.length) + shownKey(key));
      visit((value as Record<string, unknown>)[key], child, depth + 1);
    }
  };
  visit(input, prefix, 0);
  return paths;
}

function shownKey(key: string): string {
  return key.length <= 64 ? key : `${key.slice(0, 61)}...`;
}

function optionPaths(input: unknown): Set<string> {
  const paths = fieldPaths(input, ['options', 'config', ...OPTION_KEYS]);
  const { subsets, rules } = (typeof input === 'object' && input !== null ? input : {}) as {
    subsets?: unknown;
    rules?: unknown;
  };
  if (typeof subsets === 'object' && subsets !== null)
    for (const name of Object.keys(subsets)) paths.add(`weights.${shownKey(name)}`);
  // A rule's required fields may be missing from it.
  if (Array.isArray(rules))
    rules.forEach((_, i) => ['header', 'subset'].forEach((field) => paths.add(`rules[${i}].${field}`)));
  return paths;
}

/** Weights as compared: 0 and -0 are the same weight (setting one over the other is no change). */
function normalized(weights: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(weights).map(([name, w]) => [name, w === 0 ? 0 : w]));
}

/** A TypeError/RangeError of this library whose message starts with one of `paths`. */
function assertFieldError(error: unknown, paths: ReadonlySet<string>, prefix = ''): void {
  assert.ok(error instanceof TypeError || error instanceof RangeError, `not a TypeError/RangeError: ${String(error)}`);
  assert.equal((error as { code?: unknown }).code, 'ERR_SPLIT_INVALID_CONFIG', error.message);
  assert.ok(error.message.startsWith(prefix), error.message);
  const rest = error.message.slice(prefix.length);
  assert.ok(
    [...paths].some((path) => rest.startsWith(`${path}: `)),
    `message does not start with a field path: ${JSON.stringify(error.message.slice(0, 200))}`,
  );
}

/** The weights a valid options object must end up with, in subset order. */
function expectedWeights(options: TrafficSplitOptions): Record<string, number> {
  return Object.fromEntries(Object.keys(options.subsets).map((name) => [name, options.weights[name]!]));
}

// ---- generators ------------------------------------------------------------------------------

const subsetName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('v1', 'v2', 'v3', 'canary') },
  fc.constantFrom(
    'constructor',
    'toString',
    'hasOwnProperty',
    'prototype',
    'valueOf',
    '__proto__',
    '',
    '1x',
    'a'.repeat(65),
  ),
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,8}$/),
  fc.string({ maxLength: 8 }),
);
const badNumber = fc.constantFrom(
  NaN,
  Infinity,
  -Infinity,
  -1,
  -Number.MIN_VALUE,
  1e9 + 1,
  Number.MAX_VALUE,
  1e308 * 10,
);
const goodNumber = fc.oneof(
  fc.integer({ min: 0, max: 1_000 }),
  fc.double({ min: 0, max: 1e9, noNaN: true }),
  fc.constantFrom(0, -0, 1e9, Number.MIN_VALUE),
);
const garbage = fc.oneof(
  fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withBoxedValues: true,
    maxDepth: 3,
  }),
  fc.string(),
  fc.constant(undefined),
);
const weightValue = fc.oneof(
  { weight: 6, arbitrary: goodNumber },
  { weight: 2, arbitrary: badNumber },
  { weight: 1, arbitrary: garbage },
);
const metadataKey = fc.oneof(
  fc.constantFrom('x-user-id', 'x-canary', 'x-user-id-bin', 'grpc-timeout', 'X-User', '', 'x y', 'x-traffic-split'),
  fc.stringMatching(/^[a-z][a-z0-9_.-]{0,10}$/),
  garbage,
);
const rule = fc.oneof(
  fc.record(
    {
      header: metadataKey,
      equals: fc.oneof(fc.string(), garbage),
      prefix: fc.string(),
      regex: fc.oneof(fc.constantFrom('^a', '(', '[', '\\', '(?<x>a)\\k<y>', '.*'), fc.string()),
      subset: fc.oneof(subsetName, garbage),
    },
    { requiredKeys: ['header', 'subset'] },
  ),
  garbage,
);

/** Options: a subsets map, weights mostly for exactly those subsets, and optional extras.
 * Object.fromEntries and spreading define own properties, so `__proto__` stays a plain key. */
function optionsWith(target: fc.Arbitrary<unknown>): fc.Arbitrary<TrafficSplitOptions> {
  return fc
    .tuple(
      fc.uniqueArray(subsetName, { minLength: 0, maxLength: 4 }),
      target,
      fc.array(weightValue, { minLength: 4, maxLength: 4 }),
      fc.oneof({ weight: 6, arbitrary: fc.constant('exact') }, fc.constantFrom('missing', 'extra', 'garbage')),
      fc.record(
        {
          childPolicy: fc.oneof(
            fc.constant([{ round_robin: {} }]),
            fc.constant([{ pick_first: {} }]),
            fc.constant([{ traffic_split: {} }]),
            fc.array(garbage, { maxLength: 2 }),
            garbage,
          ),
          reresolveIntervalMs: fc.oneof(fc.integer({ min: 0, max: 0x7fffffff }), badNumber, fc.double(), garbage),
          fallbackToZeroWeight: fc.oneof(fc.boolean(), garbage),
          stickyKey: metadataKey,
          rules: fc.oneof(fc.array(rule, { maxLength: 3 }), garbage),
          name: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/), fc.string(), garbage),
          authority: fc.oneof(fc.constantFrom('reporter.test:443', 'good.test'), fc.string(), garbage),
          retryOnOtherSubset: fc.oneof(fc.boolean(), garbage),
          weigths: garbage,
        },
        { requiredKeys: [] },
      ),
    )
    .map(([names, subsetTarget, weights, mode, extras]) => {
      const subsets = Object.fromEntries(names.map((name) => [name, subsetTarget]));
      const weightMap: Record<string, unknown> = Object.fromEntries(names.map((name, i) => [name, weights[i]]));
      if (mode === 'missing' && names.length > 0) delete weightMap[names[0]!];
      if (mode === 'extra') weightMap['zz'] = 1;
      return {
        subsets,
        weights: mode === 'garbage' ? weights[0] : weightMap,
        ...extras,
      } as unknown as TrafficSplitOptions;
    });
}

/** Any target, garbage included: for inputs that never reach a channel. */
const options = optionsWith(fc.oneof({ weight: 4, arbitrary: fc.constant('ipv4:127.0.0.1:1') }, fc.string(), garbage));
/** Loopback targets only: for inputs given to real channels (a fuzzed name would go to DNS). */
const loopbackOptions = optionsWith(fc.constantFrom('ipv4:127.0.0.1:1', 'ipv4:127.0.0.1:2', 'ipv6:[::1]:1'));

/** Inputs built from JSON text, so `__proto__` is an own key as JSON.parse makes it. */
const jsonInputs = fc.constantFrom(
  '{"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":1,"__proto__":{"v1":0}}}',
  '{"subsets":{"v1":"ipv4:127.0.0.1:1","__proto__":"ipv4:127.0.0.1:2"},"weights":{"v1":1}}',
  '{"__proto__":{"subsets":{"v1":"a"}},"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":1}}',
  '{"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":1},"constructor":{"prototype":{"polluted":true}}}',
  '{"subsets":{"constructor":"ipv4:127.0.0.1:1","prototype":"ipv4:127.0.0.1:2"},"weights":{"constructor":1,"prototype":0}}',
  '{"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":1e999}}',
  '{"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":-1e999}}',
  '{"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":123456789012345678901234567890}}',
  '{"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":1},"rules":[{"header":"x-a","regex":"(","subset":"v1"}]}',
  '{"subsets":{"v1":"ipv4:127.0.0.1:1"},"weights":{"v1":1},"rules":{"0":{"header":"x-a","equals":"b","subset":"v1"}}}',
  '{"subsets":["ipv4:127.0.0.1:1"],"weights":[1]}',
  '{"subsets":"v1","weights":"v1=1"}',
  '[]',
  '"traffic_split"',
  'null',
);

function deeplyNested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

/** A fixed seed keeps CI reproducible; FC_SEED=<n> explores other inputs. */
const FC = { numRuns: 400, seed: Number(process.env['FC_SEED'] ?? 0x5eed) };

describe('bad input, fuzzed', () => {
  it('the constructor accepts a config with the weights it was given, or rejects it naming the field', (t) => {
    // A childPolicy list naming traffic_split makes grpc-js parse (and our policy log) it.
    grpc.setLogger({ error: () => {} } as unknown as Console);
    t.after(() => grpc.setLogger(console));
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 8, arbitrary: options },
          garbage,
          jsonInputs.map((text) => JSON.parse(text) as unknown),
        ),
        (input) => {
          let split: TrafficSplit;
          try {
            split = new TrafficSplit(input as TrafficSplitOptions);
          } catch (error) {
            assertFieldError(error, optionPaths(input));
            return;
          }
          try {
            const given = input as TrafficSplitOptions;
            assert.deepEqual(split.subsets, Object.keys(given.subsets));
            assert.deepStrictEqual(normalized(split.getWeights()), normalized(expectedWeights(given)));
            assert.ok(split.subsets.includes(split.subsetFor('user-1')));
          } finally {
            split.close();
          }
        },
      ),
      { ...FC, numRuns: 1_000 },
    );
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype untouched');
  });

  it('rejects deep nesting, 1025 subsets, NaN from non-JSON objects and odd object kinds with a field path', () => {
    const base = { subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } };
    const cases: [string, unknown][] = [
      ['nested weight', { ...base, weights: { v1: deeplyNested(50_000) } }],
      ['nested option', { ...base, extra: deeplyNested(50_000) }],
      ['nested rules', { ...base, rules: [deeplyNested(50_000)] }],
      ['nested child policy', { ...base, childPolicy: [deeplyNested(50_000)] }],
      [
        '1025 subsets',
        {
          subsets: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`s${i}`, 'ipv4:127.0.0.1:1'])),
          weights: {},
        },
      ],
      ['NaN', { ...base, weights: { v1: NaN } }],
      [
        'NaN getter',
        {
          ...base,
          weights: {
            get v1() {
              return NaN;
            },
          },
        },
      ],
      ['Date weights', { ...base, weights: new Date(0) }],
      ['Map weights', { ...base, weights: new Map([['v1', 1]]) }],
      ['inherited weight', { ...base, weights: Object.create({ v1: 1 }) as object }],
      ['boxed number', { ...base, weights: { v1: new Number(1) } }],
      ['bigint', { ...base, weights: { v1: 1n } }],
      ['symbol', { ...base, weights: { v1: Symbol('w') } }],
      ['function', { ...base, weights: { v1: () => 1 } }],
      [
        'cyclic',
        (() => {
          const w: Record<string, unknown> = { v1: 1 };
          w['self'] = w;
          return { ...base, weights: w };
        })(),
      ],
      ['huge name', { ...base, name: 'x'.repeat(1_000_000) }],
      ['huge subset name', { subsets: { ['v'.repeat(1_000_000)]: 'ipv4:127.0.0.1:1' }, weights: {} }],
    ];
    for (const [name, input] of cases) {
      assert.throws(
        () => new TrafficSplit(input as TrafficSplitOptions),
        (error) => {
          assertFieldError(error, optionPaths(input));
          assert.ok(
            (error as Error).message.length < 500,
            `${name}: message of ${(error as Error).message.length} characters`,
          );
          return true;
        },
        name,
      );
      assert.throws(
        () => parseConfig(input),
        (error) => {
          assertFieldError(error, optionPaths(input), 'traffic_split: ');
          return true;
        },
        name,
      );
    }
    // An unknown key is named by its first 61 characters: a huge key makes no huge message.
    const hugeKey = 'w'.repeat(1_000_000);
    assert.throws(() => new TrafficSplit({ ...base, weights: { v1: 1, [hugeKey]: 1 } }), {
      name: 'TrafficSplitTypeError',
      message: `weights.${'w'.repeat(61)}...: unknown subset (subsets: v1), got \`1\` (number)`,
    });
    // Accepted with a defined result: a null-prototype map and a frozen one.
    const nullProto = Object.assign(Object.create(null) as object, { v1: 2 });
    for (const weights of [nullProto, Object.freeze({ v1: 3 })]) {
      const split = new TrafficSplit({ ...base, weights: weights as Record<string, number> });
      assert.deepEqual(split.getWeights(), { v1: (weights as { v1: number }).v1 });
      split.close();
    }
  });

  it('setWeights() applies a complete valid map exactly, and a rejected one leaves the weights in force', () => {
    const split = new TrafficSplit({ subsets: TARGETS, weights: { v1: 1, v2: 1, constructor: 1 } });
    let events = 0;
    split.on('weights', () => events++);
    try {
      const names = Object.keys(TARGETS);
      const complete = fc
        .array(weightValue, { minLength: 3, maxLength: 3 })
        .map((ws) => Object.fromEntries(names.map((n, i) => [n, ws[i]])));
      const input = fc.oneof(
        { weight: 5, arbitrary: complete },
        fc.dictionary(subsetName, weightValue, { maxKeys: 5 }),
        fc.tuple(complete, subsetName, weightValue).map(([w, k, v]) => ({ ...w, [k]: v })),
        garbage,
        jsonInputs.map((text) => (JSON.parse(text) as { weights?: unknown } | null)?.weights),
      );
      fc.assert(
        fc.property(input, (weights) => {
          const before = split.getWeights();
          const eventsBefore = events;
          try {
            split.setWeights(weights as Record<string, number>);
          } catch (error) {
            assertFieldError(error, fieldPaths(weights, ['weights', ...names.map((n) => `weights.${n}`)], 'weights'));
            assert.deepStrictEqual(split.getWeights(), before, 'weights in force after a rejection');
            assert.equal(events, eventsBefore, 'no weights event on a rejection');
            return;
          }
          const given = weights as Record<string, number>;
          assert.deepStrictEqual(
            normalized(split.getWeights()),
            normalized(Object.fromEntries(names.map((n) => [n, given[n]!]))),
          );
          assert.ok(names.some((n) => given[n]! > 0));
        }),
        { ...FC, numRuns: 1_000 },
      );
    } finally {
      split.close();
    }
  });

  it('route() and subsetFor() either answer or throw a TypeError naming route/key, and never touch the weights', () => {
    const split = new TrafficSplit({ subsets: TARGETS, weights: { v1: 3, v2: 1, constructor: 0 } });
    try {
      const weights = split.getWeights();
      const request = fc.oneof(
        fc.record({ subset: fc.oneof(subsetName, garbage) }),
        fc.record({ key: fc.oneof(fc.string({ unit: 'binary' }), garbage) }),
        fc.record({ subset: subsetName, key: fc.string() }, { requiredKeys: [] }),
        garbage,
      );
      fc.assert(
        fc.property(request, (route) => {
          try {
            const options = split.route(route as never);
            assert.equal(typeof options, 'object');
            const r = route as { subset?: unknown; key?: unknown };
            assert.ok(
              (typeof r.subset === 'string' && split.subsets.includes(r.subset) && r.key === undefined) ||
                (typeof r.key === 'string' && r.subset === undefined),
            );
          } catch (error) {
            assertFieldError(error, new Set(['route', 'route.subset', 'route.key']));
          }
          assert.deepStrictEqual(split.getWeights(), weights);
        }),
        FC,
      );
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), garbage), (key) => {
          let subset: string;
          try {
            subset = split.subsetFor(key as string);
          } catch (error) {
            assert.notEqual(typeof key, 'string');
            assertFieldError(error, new Set(['key']));
            return;
          }
          assert.ok(['v1', 'v2'].includes(subset), `${subset}: weight-0 subsets never get keys`);
          assert.equal(split.subsetFor(key as string), subset, 'deterministic');
        }),
        FC,
      );
    } finally {
      split.close();
    }
  });

  it('parseConfig() round-trips what it accepts and names the field of what it rejects, for JSON with hostile keys', () => {
    const json = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((value) => ({
        subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' },
        weights: { v1: 1, v2: value },
      })),
      fc.jsonValue({ maxDepth: 4 }),
      fc.dictionary(
        fc.constantFrom(
          '__proto__',
          'constructor',
          'prototype',
          'subsets',
          'weights',
          'rules',
          'stickyKey',
          'childPolicy',
        ),
        fc.jsonValue({ maxDepth: 3 }),
        { maxKeys: 5 },
      ),
      jsonInputs.map((text) => JSON.parse(text) as unknown),
      options,
    );
    fc.assert(
      fc.property(json, (raw) => {
        let parsed: unknown;
        try {
          parsed = parseConfig(raw);
        } catch (error) {
          assertFieldError(error, optionPaths(raw), 'traffic_split: ');
          return;
        }
        assert.deepStrictEqual(parseConfig(parsed), parsed, 'round trip');
      }),
      { ...FC, numRuns: 1_000 },
    );
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype untouched');
  });

  it(
    'a channel given a fuzzed service config reports a rejection ' +
      'at ERROR and fails its calls with a status, never crashing',
    async (t) => {
      register();
      const lines: string[] = [];
      grpc.setLogger({ error: (...args: unknown[]) => lines.push(args.join(' ')) } as unknown as Console);
      t.after(() => grpc.setLogger(console));
      const raw = fc.oneof(
        loopbackOptions,
        fc.jsonValue({ maxDepth: 3 }),
        jsonInputs.map((text) => JSON.parse(text) as unknown),
      );
      await fc.assert(
        fc.asyncProperty(raw, async (config) => {
          let text: string;
          try {
            text = JSON.stringify({ loadBalancingConfig: [{ traffic_split: config }] });
          } catch {
            return; // not representable as a service config (a bigint, a cycle)
          }
          let expected: string | null = null;
          try {
            parseConfig(JSON.parse(text).loadBalancingConfig[0].traffic_split);
          } catch (error) {
            expected =
              `traffic_split: service config ` +
              `rejected: ${(error as Error).message.slice('traffic_split: '.length)}`;
          }
          lines.length = 0;
          const client = echoClient('ipv4:127.0.0.1:1', { 'grpc.service_config': text });
          try {
            let callbacks = 0;
            const status = await new Promise<grpc.status>((resolve) => {
              client.echo({}, new grpc.Metadata(), { deadline: Date.now() + 2_000 }, (error) => {
                callbacks++;
                resolve(error ? (error as grpc.ServiceError).code : grpc.status.OK);
              });
            });
            assert.equal(callbacks, 1);
            // Nothing listens on port 1 and the subsets' targets are unreachable or invalid.
            assert.notEqual(status, grpc.status.OK);
            if (expected === null)
              assert.deepEqual(
                lines.filter((l) => l.includes('service config rejected')),
                [],
              );
            else
              assert.ok(
                lines.some((l) => l.includes(expected!)),
                `${expected}\nlogged: ${lines.join('\n')}`,
              );
          } finally {
            client.close();
          }
        }),
        { ...FC, numRuns: 40 },
      );
    },
  );

  it('hashes a sticky key the same whatever keys were hashed before it (a longer key than any before included)', () => {
    // Each key is longer than every earlier one, so the encoder's scratch buffer grows for it:
    // the hash must be that of the key's own bytes, not of a stale buffer.
    const reference = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      return murmur3(bytes, bytes.length, 0);
    };
    for (let size = 64; size <= 1 << 22; size *= 2) {
      const key = `${size}:`.padEnd(size, 'é=&');
      assert.equal(murmur3String(key, 0), reference(key), `key of ${size} characters`);
    }
  });

  it('routes any sticky key given to route() to subsetFor(key): huge, empty, non-ASCII, lone surrogates', async (t) => {
    const { client, split } = await rig(t, { v1: 2, v2: 3 });
    const key = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 50 }),
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 20 }).map((units) => String.fromCharCode(...units)),
      fc
        .tuple(fc.string({ minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 300_000 }))
        .map(([s, n]) => s.repeat(n)),
      fc.constantFrom('', '\uD800', '\uDC00x', 'a\uD83D', '%', '%E0%A4%A', ';', ';s=v2', 'k=v'),
    );
    await fc.assert(
      fc.asyncProperty(key, async (k) => {
        const reply = await callEcho(client, {}, new grpc.Metadata(), {
          ...split.route({ key: k }),
          deadline: Date.now() + 5_000,
        });
        assert.equal(reply.server, split.subsetFor(k));
        assert.deepEqual(reply.metadataKeys, ['user-agent'], 'no routing hint reaches the server');
      }),
      { ...FC, numRuns: 150 },
    );
  });

  it('routes by a sticky header with any ASCII value, and never uses a -bin header as the key', async (t) => {
    const { client, split } = await rig(t, { v1: 1, v2: 1 }, { stickyKey: 'x-user-id' });
    const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: printable, maxLength: 4_000 }), async (value) => {
        const metadata = new grpc.Metadata();
        metadata.set('x-user-id', value);
        const reply = await callEcho(client, {}, metadata, { deadline: Date.now() + 5_000 });
        assert.equal(reply.server, split.subsetFor(value), JSON.stringify(value.slice(0, 50)));
      }),
      { ...FC, numRuns: 150 },
    );
    // The same binary value on every call: were it a key, every call would go to one subset.
    const servers: string[] = [];
    for (let i = 0; i < 100; i++) {
      const metadata = new grpc.Metadata();
      metadata.set('x-user-id-bin', Buffer.from([0, 0xff, 0x80, 0x0a]));
      servers.push((await callEcho(client, {}, metadata)).server);
    }
    // The schedule: 50 +- 1 each (its order within that bound is random).
    assert.ok(
      [49, 50, 51].includes(countOf(servers)['v2'] ?? 0) &&
        (countOf(servers)['v1'] ?? 0) + countOf(servers)['v2']! === 100,
      JSON.stringify(countOf(servers)),
    );
    assert.throws(
      () =>
        new TrafficSplit({ subsets: TARGETS, weights: { v1: 1, v2: 1, constructor: 1 }, stickyKey: 'x-user-id-bin' }),
      {
        name: 'TrafficSplitTypeError',
        message:
          'stickyKey: expected a lower-case metadata key such as "x-user-id" ' +
          '(not "grpc-*", not "-bin"), got `"x-user-id-bin"` (string)',
      },
    );
  });
});

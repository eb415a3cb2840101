import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_FIELD_DIFF_LIMITS, diffFields, ROOT_PATH } from '../src/algorithms/field-diff.js';

const paths = (a: unknown, b: unknown) => diffFields(a, b).paths;

/** A JSON value rendered with sorted keys: equal strings mean deeply equal JSON values (and -0
 * renders as 0, as the diff treats it). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('field diff', () => {
  const cases: { name: string; a: unknown; b: unknown; paths: string[] }[] = [
    {
      name: 'equal-objects',
      a: { quote: { price: 10, at: 't' }, items: [{ sku: 'a' }] },
      b: { items: [{ sku: 'a' }], quote: { at: 't', price: 10 } },
      paths: [],
    },
    { name: 'leaf', a: { price: 10 }, b: { price: 11 }, paths: ['price'] },
    {
      name: 'nested',
      a: { quote: { price: 10, currency: 'EUR' } },
      b: { quote: { price: 11, currency: 'USD' } },
      paths: ['quote.price', 'quote.currency'],
    },
    {
      name: 'array-items-share-a-path',
      a: { items: [{ sku: 'a' }, { sku: 'b' }] },
      b: { items: [{ sku: 'x' }, { sku: 'y' }] },
      paths: ['items[].sku'],
    },
    { name: 'array-length', a: { items: [1, 2] }, b: { items: [1, 2, 3] }, paths: ['items'] },
    {
      name: 'key-not-an-identifier',
      a: { labels: { 'app.kubernetes.io/name': 'a' } },
      b: { labels: { 'app.kubernetes.io/name': 'b' } },
      paths: ['labels["app.kubernetes.io/name"]'],
    },
    { name: 'root-leaf', a: 1, b: 2, paths: [ROOT_PATH] },
    { name: 'root-array', a: [{ id: 1 }], b: [{ id: 2 }], paths: ['[].id'] },
    { name: 'kind', a: { price: { amount: 1 } }, b: { price: 1 }, paths: ['price'] },
    { name: 'array-against-object', a: { items: [] }, b: { items: {} }, paths: ['items'] },
    { name: 'key-on-one-side', a: { price: 1 }, b: { price: 1, discount: 2 }, paths: ['discount'] },
    { name: 'undefined-is-missing', a: { price: 1, note: undefined }, b: { price: 1 }, paths: [] },
    { name: 'null-is-not-missing', a: { note: null }, b: {}, paths: ['note'] },
    { name: 'nan-equals-nan', a: { x: NaN }, b: { x: NaN }, paths: [] },
    { name: 'bigint', a: { id: 2n ** 64n, n: 1n }, b: { id: 2n ** 64n, n: 2n }, paths: ['n'] },
    { name: 'bigint-against-number', a: { id: 1n }, b: { id: 1 }, paths: ['id'] },
    {
      name: 'buffers-by-content',
      a: { blob: Buffer.from('abc'), other: Buffer.from('x') },
      b: { blob: Buffer.from('abc'), other: Buffer.from('y') },
      paths: ['other'],
    },
    { name: 'typed-arrays', a: { v: new Uint8Array([1, 2]) }, b: { v: new Uint8Array([1, 3]) }, paths: ['v'] },
    {
      name: 'long-as-one-field',
      a: { id: { low: 1, high: 0, unsigned: false } },
      b: { id: { low: 2, high: 0, unsigned: false } },
      paths: ['id'],
    },
    {
      name: 'long-equal',
      a: { id: { low: 5, high: 1, unsigned: true } },
      b: { id: { high: 1, low: 5, unsigned: true } },
      paths: [],
    },
    {
      name: 'dates',
      a: { at: new Date(1), same: new Date(5) },
      b: { at: new Date(2), same: new Date(5) },
      paths: ['at'],
    },
    { name: 'boxed', a: { n: Object(1) }, b: { n: Object(2) }, paths: ['n'] },
    { name: 'maps', a: { m: new Map([['a', { x: 1 }]]) }, b: { m: new Map([['a', { x: 2 }]]) }, paths: ['m[].x'] },
    { name: 'map-keys', a: { m: new Map([['a', 1]]) }, b: { m: new Map([['b', 1]]) }, paths: ['m[]'] },
    {
      name: 'sets',
      a: { s: new Set([1, 2]), t: new Set([1]) },
      b: { s: new Set([2, 1]), t: new Set([2]) },
      paths: ['t'],
    },
  ];
  for (const { name, a, b, paths: expected } of cases) {
    it(`finds ${name}`, () => {
      assert.deepEqual(diffFields(a, b), { paths: expected, truncated: false });
    });
  }

  it('reads defaults a decoder keeps on the prototype (protobufjs messages)', () => {
    class Quote {
      declare price: number;
    }
    Quote.prototype.price = 0;
    const explicit = Object.assign(new Quote(), { price: 5 });
    assert.deepEqual(paths(new Quote(), explicit), ['price']);
    assert.deepEqual(paths(explicit, new Quote()), ['price']);
    assert.deepEqual(paths(new Quote(), Object.assign(new Quote(), { price: 0 })), []);
  });

  it('never throws on cycles, proxies and getters that throw', () => {
    const cyclic = (price: number) => {
      const node: Record<string, unknown> = { price };
      node['self'] = node;
      return node;
    };
    assert.deepEqual(diffFields(cyclic(1), cyclic(1)), { paths: [], truncated: false });
    assert.deepEqual(paths(cyclic(1), cyclic(2)), ['price']);
    assert.deepEqual(paths(cyclic(1), { price: 1, self: { price: 1, self: 'end' } }), ['self']);
    const hostile = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('no keys');
        },
      },
    );
    assert.deepEqual(paths({ x: hostile }, { x: hostile }), [], 'the same object is equal without a look inside');
    assert.deepEqual(
      paths(
        { x: hostile },
        {
          x: new Proxy(
            {},
            {
              ownKeys: () => {
                throw new Error('no keys');
              },
            },
          ),
        },
      ),
      ['x'],
    );
    const getter = (throws: boolean) =>
      Object.defineProperty({}, 'v', {
        enumerable: true,
        get: () => {
          if (throws) throw new Error('boom');
          return 1;
        },
      });
    assert.deepEqual(paths({ g: getter(true) }, { g: getter(false) }), ['g.v']);
    assert.deepEqual(paths({ g: getter(true) }, { g: getter(true) }), [], 'two reads that both throw are alike');
    const trap = new Proxy([1, 2], {
      get: (target, key) =>
        key === 'length'
          ? (() => {
              throw new Error('no length');
            })()
          : Reflect.get(target, key),
    });
    assert.deepEqual(paths({ list: trap }, { list: [1, 2] }), ['list']);
  });

  it('stops at its limits, and says it did', () => {
    const deep = (leaf: number) => {
      let node: unknown = { leaf };
      for (let i = 0; i < 100; i++) node = { next: node };
      return node;
    };
    assert.deepEqual(diffFields(deep(1), deep(2)), { paths: [], truncated: true });
    const long = (last: number) => ({ items: [...Array.from({ length: 1500 }, () => 0), last] });
    assert.deepEqual(diffFields(long(1), long(2)), { paths: [], truncated: true });
    const wide = (offset: number) => Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i + offset]));
    const diff = diffFields(wide(0), wide(1));
    assert.deepEqual([diff.paths.length, diff.paths[0], diff.paths[255], diff.truncated], [256, 'k0', 'k255', true]);
    const many = (value: number) => ({ list: Array.from({ length: 1000 }, () => ({ a: value, b: value, c: value })) });
    const small = { ...DEFAULT_FIELD_DIFF_LIMITS, maxNodes: 100 };
    assert.deepEqual(diffFields(many(1), many(2), small), {
      paths: ['list[].a', 'list[].b', 'list[].c'],
      truncated: true,
    });
    assert.deepEqual(
      diffFields(many(1), many(1)),
      { paths: [], truncated: false },
      'at the limits (1,000 items, 4,002 nodes), not past them',
    );
  });

  it('reports no difference exactly when two JSON values are deeply equal, in either order', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 4 }), (a, b) => {
        const forth = diffFields(a, b);
        const back = diffFields(b, a);
        assert.equal(forth.truncated, false);
        assert.equal(forth.paths.length === 0, canonical(a) === canonical(b));
        assert.deepEqual(new Set(forth.paths), new Set(back.paths));
        assert.deepEqual(diffFields(a, JSON.parse(JSON.stringify(a))).paths, []);
      }),
      { numRuns: 300 },
    );
  });

  it('names the field a mutation changed', () => {
    const record = fc.dictionary(
      fc.stringMatching(/^[a-z]{1,6}$/),
      fc.oneof(fc.integer(), fc.string(), fc.boolean()),
      { minKeys: 1, maxKeys: 8 },
    );
    fc.assert(
      fc.property(record, fc.nat(), (inner, pick) => {
        const keys = Object.keys(inner);
        const key = keys[pick % keys.length]!;
        const changed = {
          ...inner,
          [key]:
            typeof inner[key] === 'string'
              ? `${inner[key]}!`
              : typeof inner[key] === 'number'
                ? (inner[key] as number) + 1
                : !inner[key],
        };
        assert.deepEqual(paths({ outer: { inner } }, { outer: { inner: changed } }), [`outer.inner.${key}`]);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws, whatever the values', () => {
    const anything = fc.anything({
      maxDepth: 3,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
    });
    fc.assert(
      fc.property(anything, anything, (a, b) => {
        const diff = diffFields(a, b);
        assert.ok(Array.isArray(diff.paths) && diff.paths.length <= DEFAULT_FIELD_DIFF_LIMITS.maxPaths);
        assert.deepEqual(diffFields(a, a).paths, []);
      }),
      { numRuns: 500 },
    );
  });
});

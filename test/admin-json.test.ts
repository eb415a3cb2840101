import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CappedValue,
  JsonSlicer,
  MAX_BINARY_BYTES,
  MAX_DEPTH,
  MAX_PIECE_BYTES,
  MAX_STRING_CHARS,
  SLICE_BYTES,
  SLICE_VALUES,
} from '../src/ops/admin/admin-json.js';
import { JsonBytes } from '../src/ops/admin/admin-json-bytes.js';
import { SlicePool } from '../src/ops/admin/admin-slice-pool.js';

function slicesOf(value: unknown): Buffer[] {
  const slicer = new JsonSlicer(value);
  const slices: Buffer[] = [];
  for (let slice = slicer.next(); slice !== null; slice = slicer.next()) slices.push(slice);
  return slices;
}

const render = (value: unknown): string => Buffer.concat(slicesOf(value)).toString();

describe('JSON of the admin endpoint (JsonSlicer)', () => {
  it('renders plain JSON data exactly as JSON.stringify(value, null, 2)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        assert.equal(render(value), JSON.stringify(value, null, 2));
      }),
      { numRuns: 500, seed: 20 },
    );
    const odd = {
      a: undefined,
      b: () => 1,
      c: [undefined, () => 1, Symbol('s')],
      d: {},
      e: [],
      f: -0,
      g: NaN,
      h: 1e21,
      i: 'quote " \\ \n \u0001 \ud800',
      j: { toJSON: () => ({ k: 1 }) },
      l: new Date(0),
    };
    assert.equal(render(odd), JSON.stringify(odd, null, 2));
    assert.equal(render(undefined), 'null');
  });

  it('renders any UTF-16 text (lone surrogates, U+2028, controls, non-ASCII) byte for byte as JSON.stringify, in keys and values', () => {
    // Pieces of up to 64 characters are copied by a loop that hands non-ASCII text to Node; longer
    // ones are encoded by Node at once; the specials sit on both sides of that length.
    const specials = [
      '\u2028',
      '\ud800',
      '\udc00',
      '\ud83d\ude00',
      'é',
      '"',
      '\\',
      '\u0000',
      '\u007f',
      '\u0080',
      '\uffff',
      'a',
    ];
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.array(fc.constantFrom(...specials), { maxLength: 130 }).map((pieces) => pieces.join('')),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 8 }), (pairs) => {
        const value = [Object.fromEntries(pairs), pairs.map(([, v]) => v)];
        assert.equal(render(value), JSON.stringify(value, null, 2));
      }),
      { numRuns: 500, seed: 20 },
    );
  });

  it(
    'renders what JSON.stringify throws on or garbles: BigInt, ' +
      'binaries, cycles, throwing getters, proxies, Map, Set',
    () => {
      const message: Record<string, unknown> = {
        id: 2n ** 63n - 1n,
        huge: 2n ** 2000n,
        bytes: Buffer.from('hello'),
        floats: new Float32Array([1]),
        map: new Map<unknown, unknown>([[1, { x: 2n }]]),
        set: new Set(['a']),
        boxed: Object(7n),
        proxy: new Proxy(
          {},
          {
            ownKeys: () => {
              throw new Error('no keys');
            },
          },
        ),
        badToJson: {
          toJSON: () => {
            throw new Error('no JSON');
          },
        },
      };
      message['self'] = message;
      message['list'] = [message];
      Object.defineProperty(message, 'getter', {
        enumerable: true,
        get: () => {
          throw new Error('no value');
        },
      });
      assert.deepEqual(JSON.parse(render(message)), {
        id: '9223372036854775807',
        huge: '[bigint beyond 1024 bits]',
        bytes: { base64: 'aGVsbG8=', bytes: 5, truncated: false },
        floats: { base64: 'AACAPw==', bytes: 4, truncated: false },
        map: [[1, { x: '2' }]],
        set: ['a'],
        boxed: '7',
        proxy: '[unreadable]',
        badToJson: '[unreadable]',
        self: '[circular]',
        list: ['[circular]'],
        getter: '[unreadable]',
      });
      // A value shared by two branches is not a cycle.
      const shared = { n: 1 };
      assert.deepEqual(JSON.parse(render({ a: shared, b: shared })), { a: { n: 1 }, b: { n: 1 } });
    },
  );

  it('renders a revoked proxy and one whose getPrototypeOf throws as "[unreadable]", at the root, as a member and capped', () => {
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const refusing = new Proxy(
      {},
      {
        getPrototypeOf: () => {
          throw new Error('no prototype');
        },
      },
    );
    for (const hostile of [revoked, refusing]) {
      assert.equal(render(hostile), '"[unreadable]"');
      assert.deepEqual(
        JSON.parse(render({ a: 1, hostile, list: [hostile], capped: new CappedValue(hostile, 100, 10) })),
        {
          a: 1,
          hostile: '[unreadable]',
          list: ['[unreadable]'],
          capped: '[unreadable]',
        },
      );
    }
  });

  it('bounds strings, binaries and nesting, and marks what it cuts', () => {
    const long = 'y'.repeat(MAX_STRING_CHARS + 10);
    const parsed = JSON.parse(render({ long, bytes: Buffer.alloc(MAX_BINARY_BYTES + 1, 1) }));
    assert.equal(parsed.long, `${'y'.repeat(MAX_STRING_CHARS)}…[truncated, ${MAX_STRING_CHARS + 10} chars]`);
    assert.deepEqual(parsed.bytes, {
      base64: Buffer.alloc(MAX_BINARY_BYTES, 1).toString('base64'),
      bytes: MAX_BINARY_BYTES + 1,
      truncated: true,
    });
    // 100,000 levels: no recursion to overflow, and a marker below MAX_DEPTH.
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    let level = JSON.parse(render(deep));
    let depth = 0;
    while (Array.isArray(level)) {
      level = level[0];
      depth++;
    }
    assert.deepEqual([depth, level], [MAX_DEPTH, '[too deep]']);
  });

  it('keeps a capped value within its characters, binaries at their byte cap, and says what it left out', () => {
    const response = {
      payload: Buffer.alloc(65_536, 7),
      list: Array.from({ length: 10_000 }, (_, i) => i),
      text: 'z'.repeat(60_000),
      after: { a: 1, b: 2 },
    };
    const text = render({ before: 'kept', response: new CappedValue(response, 2_048, 1_024), next: 'kept too' });
    const parsed = JSON.parse(text);
    assert.deepEqual([parsed.before, parsed.next], ['kept', 'kept too']);
    assert.deepEqual(parsed.response.payload, {
      base64: Buffer.alloc(1_024, 7).toString('base64'),
      bytes: 65_536,
      truncated: true,
    });
    const list: unknown[] = parsed.response.list;
    assert.match(String(list.at(-1)), /^\[truncated: \d+ more items\]$/);
    assert.equal(Number(/\d+/.exec(String(list.at(-1)))![0]) + list.length - 1, 10_000);
    assert.deepEqual(parsed.response['[truncated]'], '2 more keys');
    const rendered = JSON.stringify(parsed.response, null, 2).length;
    assert.ok(rendered < 2_048 + 256, `capped response of ${rendered} characters`);
  });

  it('cuts the text in slices of at most SLICE_BYTES + MAX_PIECE_BYTES bytes and SLICE_VALUES values', () => {
    const escaped = '\u0001'.repeat(MAX_STRING_CHARS);
    const value = {
      numbers: Array.from({ length: 50_000 }, (_, i) => i),
      escaped: Array(20).fill(escaped),
      omitted: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, undefined])),
    };
    const slices = slicesOf(value);
    assert.equal(Buffer.concat(slices).toString(), JSON.stringify(value, null, 2));
    const longest = Math.max(...slices.map((s) => s.length));
    assert.ok(longest <= SLICE_BYTES + MAX_PIECE_BYTES, `a slice of ${longest} bytes`);
    // Escaped strings fill a slice past SLICE_BYTES by at most one piece of them.
    assert.ok(longest > SLICE_BYTES, `${longest}`);
    // 20,000 left-out keys print nothing, yet take at least 20,000 / SLICE_VALUES slices.
    const empty = slices.filter((s) => s.length === 0).length;
    assert.ok(empty >= Math.floor(20_000 / SLICE_VALUES) - 1, `${empty} empty slices`);
  });
});

describe('bytes of the admin endpoint (JsonBytes)', () => {
  it('writes strings as UTF-8 and binaries as base64 exactly as Buffer does, growing past its capacity', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 200, unit: 'binary' }), fc.uint8Array({ maxLength: 200 })), {
          maxLength: 20,
        }),
        (pieces) => {
          const bytes = new JsonBytes(new SlicePool(16, 64));
          let chars = 0;
          for (const piece of pieces) chars += typeof piece === 'string' ? bytes.write(piece) : bytes.base64(piece);
          const expected = pieces
            .map((piece) => (typeof piece === 'string' ? piece : Buffer.from(piece).toString('base64')))
            .join('');
          assert.equal(bytes.take().toString(), expected);
          assert.equal(chars, expected.length);
        },
      ),
      { numRuns: 300, seed: 20 },
    );
  });

  it('hands out each slice once and starts the next in a Buffer of its own', () => {
    // Buffers large enough for both slices: the second must not go into the first's.
    const bytes = new JsonBytes(new SlicePool(64, 256));
    bytes.write('first');
    bytes.spaces(3);
    const first = bytes.take();
    bytes.write('é second');
    const second = bytes.take();
    assert.deepEqual([first.toString(), second.toString(), bytes.take().length], ['first   ', 'é second', 0]);
    assert.notEqual(first.buffer, second.buffer);
  });
});

describe('buffers of the admin endpoint (SlicePool)', () => {
  it('hands out a buffer given back again, never twice at once, and keeps at most maxBytes', () => {
    const pool = new SlicePool(16, 32);
    const [a, b, c] = [pool.take(), pool.take(), pool.take()];
    assert.deepEqual([a.length, pool.allocated, pool.size], [16, 3, 0]);
    // A view of the buffer (a slice as JsonBytes hands it out), given back twice: kept once.
    pool.give(a.subarray(0, 5));
    pool.give(a);
    pool.give(b);
    pool.give(c);
    assert.equal(pool.size, 2, 'two of 16 bytes within 32');
    const again = [pool.take(), pool.take(), pool.take()];
    assert.deepEqual(
      again.map((buffer) => [a.buffer, b.buffer].indexOf(buffer.buffer as ArrayBuffer)),
      [1, 0, -1],
    );
    assert.deepEqual([pool.allocated, pool.size], [4, 0]);
  });

  it('ignores buffers that are not its own, even of its size', () => {
    const pool = new SlicePool(16, 64);
    pool.give(Buffer.allocUnsafeSlow(16));
    pool.give(new Uint8Array(16));
    pool.give(new SlicePool(16, 64).take());
    assert.equal(pool.size, 0);
  });

  it('JSON answers take their slices from the pool, and a second answer uses the buffers of the first', () => {
    const pool = new SlicePool(SLICE_BYTES + 4 * 1024, 8 * 1024 * 1024);
    const value = Array.from({ length: 2_000 }, (_, i) => ({ i, text: 'x'.repeat(100) }));
    const answer = (): string => {
      const slicer = new JsonSlicer(value, pool);
      const slices: Buffer[] = [];
      for (let slice = slicer.next(); slice !== null; slice = slicer.next()) slices.push(slice);
      const text = Buffer.concat(slices).toString();
      for (const slice of slices) pool.give(slice);
      return text;
    };
    assert.equal(answer(), JSON.stringify(value, null, 2));
    const first = pool.allocated;
    assert.ok(first > 1, `${first} buffers`);
    assert.equal(answer(), JSON.stringify(value, null, 2));
    assert.equal(pool.allocated, first);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Status } from '../src/policy/grpc/grpc.js';
import type { EndedSide } from '../src/policy/mirror/mirror-compare.js';
import {
  FieldTable,
  fieldsSince,
  isNoise,
  judgeThreeWay,
  NoiseTally,
  OTHER_PATH,
} from '../src/policy/mirror/noise/mirror-noise.js';
import {
  MAX_DECODE_BYTES,
  settleThreeWay,
  type NoiseContext,
} from '../src/policy/mirror/noise/mirror-noise-settle.js';
import { parseMirrorOptions, type MirrorOptions } from '../src/policy/mirror/mirror-options.js';

describe('three-way rule', () => {
  it('calls a field noise when the baseline differs at least ratio times as often as the canary', () => {
    const table: [number, number, number, boolean][] = [
      // canary, baseline, ratio, noise
      [10, 10, 2 / 3, true],
      [15, 10, 2 / 3, true],
      [16, 10, 2 / 3, false],
      [10, 0, 2 / 3, false],
      [10, 0, 0, false],
      [1000, 1, 0, true],
      [0, 3, 1, true],
      [4, 3, 1, false],
    ];
    for (const [canary, baseline, ratio, noise] of table)
      assert.equal(isNoise({ canary, baseline, regressions: 0 }, ratio), noise, `${canary}/${baseline} at ${ratio}`);
  });

  it('counts a regression only where the canary differs and the baseline agrees', () => {
    const table = new FieldTable();
    // A timestamp and a request id differ on every side; the price on the canary only.
    assert.deepEqual(judgeThreeWay(table, 2 / 3, ['price', 'servedAt', 'requestId'], ['servedAt', 'requestId']), {
      regressions: ['price'],
      noise: ['servedAt', 'requestId'],
    });
    assert.deepEqual(judgeThreeWay(table, 2 / 3, ['servedAt', 'requestId'], ['servedAt', 'requestId']), {
      regressions: [],
      noise: ['servedAt', 'requestId'],
    });
    assert.deepEqual(judgeThreeWay(table, 2 / 3, [], ['servedAt']), { regressions: [], noise: [] });
    assert.deepEqual(table.snapshot(2 / 3), [
      { path: 'price', canary: 1, baseline: 0, regressions: 1, noise: false },
      { path: 'requestId', canary: 2, baseline: 2, regressions: 0, noise: true },
      { path: 'servedAt', canary: 2, baseline: 3, regressions: 0, noise: true },
    ]);
  });

  it('forgives a regression at a field known as noise, and stops forgiving when the canary differs much more often', () => {
    const table = new FieldTable();
    // A host name: the baseline differs on half the calls (another pod), the canary on all.
    judgeThreeWay(table, 0.5, ['host'], ['host']);
    assert.deepEqual(
      judgeThreeWay(table, 0.5, ['host'], []),
      { regressions: [], noise: ['host'] },
      '1 of 2 >= 0.5 x 2',
    );
    assert.deepEqual(
      judgeThreeWay(table, 0.5, ['host'], []),
      { regressions: ['host'], noise: [] },
      '1 of 3 < 0.5 x 3',
    );
  });

  it('without a baseline answer, counts nothing and forgives only fields known as noise', () => {
    const table = new FieldTable();
    judgeThreeWay(table, 2 / 3, ['at'], ['at']);
    const before = table.snapshot(2 / 3);
    assert.deepEqual(judgeThreeWay(table, 2 / 3, ['at', 'price'], null), { regressions: ['price'], noise: ['at'] });
    assert.deepEqual(table.snapshot(2 / 3), before);
  });

  it('tracks 256 paths apart and counts the rest once per copy under (other), which forgives nothing', () => {
    const table = new FieldTable(3);
    judgeThreeWay(table, 2 / 3, ['a', 'b', 'c'], []);
    assert.deepEqual(judgeThreeWay(table, 2 / 3, ['d', 'e', 'a'], ['e']), { regressions: ['d', 'a'], noise: ['e'] });
    assert.deepEqual(
      table.snapshot(2 / 3).map(({ path, canary, baseline, regressions }) => [path, canary, baseline, regressions]),
      [
        ['a', 2, 0, 2],
        [OTHER_PATH, 1, 1, 1],
        ['b', 1, 0, 1],
        ['c', 1, 0, 1],
      ],
    );
  });

  it('agrees with a model of the rule on random copies', () => {
    const path = fc.constantFrom<string>('a', 'b', 'c', 'd');
    const copy = fc.record({ canary: fc.uniqueArray(path), baseline: fc.option(fc.uniqueArray(path), { nil: null }) });
    fc.assert(
      fc.property(fc.array(copy, { maxLength: 40 }), fc.constantFrom(0, 0.5, 2 / 3, 1), (copies, ratio) => {
        const table = new FieldTable();
        const model = new Map<string, { canary: number; baseline: number; regressions: number }>();
        for (const { canary, baseline } of copies) {
          if (baseline !== null) {
            for (const p of new Set([...canary, ...baseline])) {
              const row = model.get(p) ?? { canary: 0, baseline: 0, regressions: 0 };
              row.canary += Number(canary.includes(p));
              row.baseline += Number(baseline.includes(p));
              row.regressions += Number(canary.includes(p) && !baseline.includes(p));
              model.set(p, row);
            }
          }
          const verdict = judgeThreeWay(table, ratio, canary, baseline);
          assert.deepEqual([...verdict.regressions, ...verdict.noise].sort(), [...canary].sort());
          for (const p of verdict.regressions) {
            assert.ok(!(baseline ?? []).includes(p), 'the baseline agreed');
            const row = model.get(p);
            assert.ok(row === undefined || !isNoise(row, ratio), 'not noise');
          }
          for (const p of verdict.noise) assert.ok((baseline ?? []).includes(p) || isNoise(model.get(p)!, ratio));
        }
        assert.deepEqual(
          table
            .snapshot(ratio)
            .map(({ path: p, canary, baseline, regressions }) => [p, canary, baseline, regressions])
            .sort(),
          [...model].map(([p, row]) => [p, row.canary, row.baseline, row.regressions]).sort(),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('gives the counts of a window since an earlier snapshot, with the rule on those counts', () => {
    const tally = new NoiseTally('baseline', 2 / 3);
    tally.judge(['price'], []);
    tally.judge(['price'], []);
    const before = tally.snapshot();
    tally.judge(['price', 'at'], ['price', 'at']);
    tally.judge(['at'], ['at']);
    assert.deepEqual(fieldsSince(tally.snapshot(), before), [
      { path: 'at', canary: 2, baseline: 2, regressions: 0, noise: true },
      { path: 'price', canary: 1, baseline: 1, regressions: 0, noise: true },
    ]);
    assert.deepEqual(
      tally.snapshot().fields.find((f) => f.path === 'price'),
      { path: 'price', canary: 3, baseline: 1, regressions: 2, noise: false },
    );
  });
});

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const ok = (value: unknown): EndedSide => ({
  code: Status.OK,
  details: '',
  headers: null,
  trailers: null,
  bytes: value === null ? null : json(value),
});

function context(options: Partial<MirrorOptions> = {}, noise: object = {}): NoiseContext & { decodes: number } {
  const settings = parseMirrorOptions(
    {
      subset: 'v2',
      percent: 10,
      noise: { subset: 'base', decode: (bytes: Buffer) => JSON.parse(bytes.toString()), ...noise },
      ...options,
    },
    ['v1', 'v2', 'base'],
  );
  const counting = { decodes: 0 } as NoiseContext & { decodes: number };
  const decode = settings.noise!.decode;
  return Object.assign(counting, {
    settings,
    noise: {
      ...settings.noise!,
      decode: decode === null ? null : (bytes: Buffer, method: string) => (counting.decodes++, decode(bytes, method)),
    },
    tally: new NoiseTally('base', settings.noise!.ratio),
    method: '/shop.Pricing/Quote',
    deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()),
  });
}

describe('settling a copy three ways', () => {
  it('finds the fields, forgives the noise, and names the regression in the sample', async () => {
    const c = context();
    const primary = ok({ price: 10, at: 1, id: 'a' });
    const settlement = await settleThreeWay(c, {
      primary,
      canary: ok({ price: 12, at: 2, id: 'b' }),
      baseline: ok({ price: 10, at: 3, id: 'c' }),
    });
    assert.equal(settlement.verdict, 'mismatched');
    assert.deepEqual(
      [settlement.sample!.fields, settlement.sample!.noiseFields, settlement.sample!.reason],
      [['price'], ['at', 'id'], 'differs where the baseline agrees: price; noise: at, id'],
    );
    assert.deepEqual(
      [
        settlement.sample!.baseline!.status,
        settlement.sample!.baseline!.bytes,
        'response' in settlement.sample!.baseline!,
      ],
      ['OK', json({ price: 10, at: 3, id: 'c' }).length, false],
    );
    const noiseOnly = await settleThreeWay(c, {
      primary,
      canary: ok({ price: 10, at: 4, id: 'd' }),
      baseline: ok({ price: 10, at: 5, id: 'e' }),
    });
    assert.deepEqual(noiseOnly, { verdict: 'matched', sample: null, compareError: false });
    assert.deepEqual(
      [c.tally.compared, c.tally.noisy, c.decodes],
      [2, 1, 6],
      'each answer decoded once: the primary for both comparisons',
    );
  });

  it('decodes nothing when the bytes are equal, and compares status codes before bodies', async () => {
    const c = context();
    assert.equal(
      (await settleThreeWay(c, { primary: ok({ a: 1 }), canary: ok({ a: 1 }), baseline: ok({ a: 1 }) })).verdict,
      'matched',
    );
    assert.equal(c.decodes, 0);
    const notFound: EndedSide = { ...ok(null), code: Status.NOT_FOUND };
    const settlement = await settleThreeWay(c, { primary: ok({ a: 1 }), canary: notFound, baseline: ok({ a: 1 }) });
    assert.deepEqual([settlement.verdict, settlement.sample!.fields], ['mismatched', ['(status)']]);
  });

  it('counts the failed, the uncompared and the copies without a baseline answer as a two-way comparison does', async () => {
    const c = context();
    const unavailable: EndedSide = { ...ok(null), code: Status.UNAVAILABLE };
    assert.equal(
      (await settleThreeWay(c, { primary: ok({ a: 1 }), canary: unavailable, baseline: ok({ a: 1 }) })).verdict,
      'failed',
    );
    assert.equal(
      (await settleThreeWay(c, { primary: unavailable, canary: ok({ a: 1 }), baseline: ok({ a: 1 }) })).verdict,
      'notCompared',
    );
    const withoutBaseline = await settleThreeWay(c, {
      primary: ok({ a: 1 }),
      canary: ok({ a: 2 }),
      baseline: unavailable,
    });
    assert.deepEqual(
      [withoutBaseline.verdict, withoutBaseline.sample!.fields, c.tally.withoutBaseline, c.tally.compared],
      ['mismatched', ['a'], 1, 0],
    );
    assert.equal(
      (await settleThreeWay(c, { primary: ok({ a: 1 }), canary: ok({ a: 2 }), baseline: null })).verdict,
      'mismatched',
    );
  });

  it('counts a decoder that throws and compares those answers whole; bodies too large to decode are compared whole', async () => {
    const c = context(
      {},
      {
        decode: (bytes: Buffer) => {
          if (bytes.includes('bad')) throw new Error('bad');
          return JSON.parse(bytes.toString());
        },
      },
    );
    const settlement = await settleThreeWay(c, {
      primary: ok({ a: 1 }),
      canary: ok({ a: 'bad' }),
      baseline: ok({ a: 1 }),
    });
    assert.deepEqual(
      [settlement.verdict, settlement.sample!.fields, c.tally.decodeErrors],
      ['mismatched', ['(body)'], 1],
    );
    const big = (n: number) => ok({ pad: 'x'.repeat(MAX_DECODE_BYTES), n });
    const decodes = c.decodes;
    const large = await settleThreeWay(c, { primary: big(1), canary: big(2), baseline: big(1) });
    assert.deepEqual([large.verdict, large.sample!.fields, c.decodes - decodes], ['mismatched', ['(body)'], 0]);
  });

  it('without a decoder compares whole answers, and a comparator decides equality three ways', async () => {
    const whole = context({}, { decode: null });
    const settlement = await settleThreeWay(whole, {
      primary: ok({ a: 1, at: 1 }),
      canary: ok({ a: 2, at: 2 }),
      baseline: ok({ a: 1, at: 3 }),
    });
    assert.deepEqual(
      [settlement.verdict, whole.tally.snapshot().fields.map((f) => f.path)],
      ['matched', ['(body)']],
      'the body differs in the baseline too: noise',
    );
    const compare = (p: { response: unknown }, m: { response: unknown }) =>
      (p.response as { a: number }).a === (m.response as { a: number }).a || 'a differs';
    const judged = context({ compare }, { decode: null });
    const mismatch = await settleThreeWay(judged, {
      primary: ok({ a: 1, at: 1 }),
      canary: ok({ a: 2, at: 2 }),
      baseline: ok({ a: 1, at: 3 }),
    });
    assert.deepEqual(
      [mismatch.verdict, mismatch.sample!.fields, mismatch.sample!.reason],
      ['mismatched', ['(compare)'], 'differs where the baseline agrees: (compare) (a differs)'],
    );
    const throwing = context(
      {
        compare: () => {
          throw new Error('oops');
        },
      },
      { decode: null },
    );
    const errored = await settleThreeWay(throwing, {
      primary: ok({ a: 1 }),
      canary: ok({ a: 2 }),
      baseline: ok({ a: 1 }),
    });
    assert.deepEqual(
      [errored.verdict, errored.compareError],
      ['matched', true],
      'a comparator that throws on both sides finds both different: noise',
    );
  });

  it('gives the event loop back between slices of large bodies', async () => {
    const c = context();
    const body = (last: number): EndedSide => {
      const bytes = Buffer.alloc(8 * 1024 * 1024);
      bytes[bytes.length - 1] = last;
      return { ...ok(null), bytes };
    };
    let turns = 0;
    let comparing = true;
    const count = () => {
      turns++;
      if (comparing) setImmediate(count);
    };
    setImmediate(count);
    const settlement = await settleThreeWay(c, { primary: body(1), canary: body(2), baseline: body(1) });
    comparing = false;
    assert.deepEqual([settlement.verdict, settlement.sample!.fields], ['mismatched', ['(body)']]);
    // Two comparisons of 8 MiB a MiB per turn: the loop turned at least 8 times meanwhile.
    assert.ok(turns >= 8, `${turns} turns`);
  });

  it('never rejects, whatever the decoder returns', async () => {
    const hostile = () =>
      new Proxy(
        {},
        {
          ownKeys: () => {
            throw new Error('no');
          },
          get: () => {
            throw new Error('no');
          },
        },
      );
    const c = context({}, { decode: hostile });
    const settlement = await settleThreeWay(c, {
      primary: ok({ a: 1 }),
      canary: ok({ a: 2 }),
      baseline: ok({ a: 1 }),
    });
    assert.deepEqual([settlement.verdict, settlement.sample!.fields], ['mismatched', ['(root)']]);
  });
});

/**
 * Per-method figures, without servers: the option, the bound on the names (any sequence of
 * method names keeps at most declared + limit + `other` + `unknown`), and the counters (for any
 * sequence of attempts and calls, a subset's methods add up to the subset, cumulative and since
 * a mark). The same on real servers: method-figures.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import {
  DEFAULT_METHOD_LIMIT,
  MethodNames,
  OTHER_METHOD,
  UNKNOWN_METHOD,
  isMethodName,
  parseMethodFigures,
} from '../src/algorithms/method-names.js';
import { rowInFlight, type FigureRows, type RowFigures } from '../src/algorithms/figure-rows.js';
import { CallAnswers } from '../src/policy/call/call-tracking.js';
import { markEndedBySplit, SubsetCounters } from '../src/policy/call/counters.js';
import { MethodCounters } from '../src/policy/call/method-counters.js';
import { CallContext } from '../src/policy/call/call-context.js';
import { TrafficSplit, TrafficSplitRangeError, TrafficSplitTypeError } from '../src/index.js';
import { shopService, SHOP } from './helpers/shop-service.js';

const { PickResultType } = grpc.experimental;
type PickResult = grpc.experimental.PickResult;

const HEDGE_LOST = 'Discarded in favor of other hedged attempt';
const REFUSED = 'Stream refused by server';

describe('option methodFigures', () => {
  const cases: {
    name: string;
    input: unknown;
    output?: unknown;
    error?: RegExp;
    kind?: new (...args: never[]) => Error;
  }[] = [
    { name: 'absent', input: undefined, output: { methods: [], limit: DEFAULT_METHOD_LIMIT } },
    { name: 'false', input: false, output: null },
    { name: 'limit 0, nothing declared', input: { limit: 0 }, output: null },
    {
      name: 'limit 0, declared',
      input: { limit: 0, methods: [SHOP.read] },
      output: { methods: [SHOP.read], limit: 0 },
    },
    {
      name: 'services and methods, without duplicates',
      input: { methods: [SHOP.write, '/x.Y/Z'], services: [shopService], limit: 5 },
      output: { methods: [SHOP.write, '/x.Y/Z', SHOP.read, SHOP.list, SHOP.watch], limit: 5 },
    },
    {
      name: 'true',
      input: true,
      error:
        /^methodFigures: expected false or an object \{ methods\?, services\?, limit\? \}, got `true` \(boolean\)$/,
      kind: TrafficSplitTypeError,
    },
    {
      name: 'limit out of range',
      input: { limit: 10_001 },
      error: /^methodFigures\.limit: expected an integer from 0 to 10000, got `10001` \(number\)$/,
      kind: TrafficSplitRangeError,
    },
    {
      name: 'limit a string',
      input: { limit: '5' },
      error: /^methodFigures\.limit: expected an integer from 0 to 10000, got `"5"` \(string\)$/,
      kind: TrafficSplitTypeError,
    },
    {
      name: 'unknown key',
      input: { limt: 5 },
      error: /^methodFigures\.limt: unknown option \(known: methods, services, limit\), got `5` \(number\)$/,
      kind: TrafficSplitTypeError,
    },
    {
      name: 'methods not an array',
      input: { methods: SHOP.read },
      error: /^methodFigures\.methods: expected an array, got `"\/shop\.Store\/Read"` \(string\)$/,
      kind: TrafficSplitTypeError,
    },
    {
      name: 'a method without its service',
      input: { methods: [SHOP.read, 'Read'] },
      error: /^methodFigures\.methods\[1\]: expected a full method name \/package\.Service\/Method .*, got `"Read"`/,
      kind: TrafficSplitRangeError,
    },
    {
      name: 'a method name with a line feed',
      input: { methods: ['/a.B/C\nD'] },
      error: /^methodFigures\.methods\[0\]: expected a full method name/,
      kind: TrafficSplitRangeError,
    },
    {
      name: 'a method name over 256 characters',
      input: { methods: [`/a.B/${'C'.repeat(252)}`] },
      error: /^methodFigures\.methods\[0\]: expected a full method name .*at most 256 characters, got `"\/a\.B\/CCC/,
      kind: TrafficSplitRangeError,
    },
    {
      name: 'a service method without a path',
      input: { services: [{ read: { requestStream: false } }] },
      error: /^methodFigures\.services\[0\]\.read\.path: expected a full method name .*, got undefined$/,
      kind: TrafficSplitTypeError,
    },
    {
      name: 'a service that is not an object',
      input: { services: ['shop.Store'] },
      error: /^methodFigures\.services\[0\]: expected a service definition \(grpc\.ServiceDefinition\), got/,
      kind: TrafficSplitTypeError,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error === undefined) return assert.deepEqual(parseMethodFigures(c.input), c.output);
      assert.throws(
        () => parseMethodFigures(c.input),
        (error: Error) => error instanceof c.kind! && c.error!.test(error.message),
      );
    });
  }

  it('is an option of the split, checked before the split exists', () => {
    const subsets = { v1: 'ipv4:127.0.0.1:1' };
    assert.throws(() => new TrafficSplit({ subsets, weights: { v1: 1 }, methodFigures: { limit: -1 } }), {
      message: 'methodFigures.limit: expected an integer from 0 to 10000, got `-1` (number)',
    });
    const split = new TrafficSplit({ subsets, weights: { v1: 1 }, methodFigures: { services: [shopService] } });
    assert.deepEqual(Object.keys(split.stats().subsets['v1']!.methods!), [
      SHOP.read,
      SHOP.write,
      SHOP.list,
      SHOP.watch,
    ]);
    split.close();
  });
});

/** Names a test draws: a few valid ones, unknown, and hostile ones (not of the form, too long). */
const methodName = fc.oneof(
  fc.constantFrom('/a.S/M0', '/a.S/M1', '/a.S/M2', '/b.T/M0', '/b.T/M1', '/b.T/Q"\\', '/c.U/M0', '/c.U/M1'),
  fc.constant(''),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('/a.S/', 'a.S/M0', '/a.S/M0\n', `/a.S/${'L'.repeat(300)}`, '/a/b/c', '/a.S/M 0'),
);

describe('the bound on method names', () => {
  it('names the declared methods, then the first `limit` others seen; others are `other`, unknown is `unknown`', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('/a.S/M0', '/x.D/M0', '/x.D/M1'), { maxLength: 3 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(methodName, { maxLength: 60 }),
        (declared, limit, calls) => {
          const names = new MethodNames(declared, limit);
          const slots = calls.map((call) => names.slotOf(call));
          // The model: declared first, then valid names in order first seen, up to the limit.
          const named: string[] = [...declared];
          let seen = 0;
          for (const call of calls)
            if (!named.includes(call) && isMethodName(call) && seen < limit) {
              named.push(call);
              seen++;
            }
          const used = names.names.filter((n) => n !== OTHER_METHOD && n !== UNKNOWN_METHOD);
          assert.deepEqual(used, named);
          assert.ok(names.names.length <= declared.length + limit + 2, `${names.names.length} names`);
          assert.equal(names.maxSlots, declared.length + limit + 2);
          calls.forEach((call, i) => {
            const expected = call === '' ? UNKNOWN_METHOD : named.includes(call) ? call : OTHER_METHOD;
            assert.equal(names.names[slots[i]!], expected, JSON.stringify(call));
            assert.equal(names.slotOf(call), slots[i], 'a name keeps its slot');
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps 102 names for 10,000 distinct methods at the default limit', () => {
    const names = new MethodNames([], DEFAULT_METHOD_LIMIT);
    for (let i = 0; i < 10_000; i++) names.slotOf(`/gen.Svc/M${i}`);
    names.slotOf('');
    assert.equal(names.names.length, DEFAULT_METHOD_LIMIT + 2);
    assert.deepEqual(names.names.slice(0, 2), ['/gen.Svc/M0', '/gen.Svc/M1']);
    assert.deepEqual(names.names.slice(-2), [OTHER_METHOD, UNKNOWN_METHOD]);
  });
});

const complete = (): PickResult =>
  Object.freeze({
    pickResultType: PickResultType.COMPLETE,
    subchannel: null,
    status: null,
    onCallStarted: null,
    onCallEnded: null,
  });
const trailers = new grpc.Metadata();

/** How an attempt ends. */
type Ending = { kind: 'answer'; code: number } | { kind: 'hedgeLost' } | { kind: 'refused' } | { kind: 'rebalanced' };

const ending: fc.Arbitrary<Ending> = fc.oneof(
  fc.record({ kind: fc.constant('answer' as const), code: fc.constantFrom(0, 2, 4, 13, 14, 99) }),
  fc.constant({ kind: 'hedgeLost' as const }),
  fc.constant({ kind: 'refused' as const }),
  fc.constant({ kind: 'rebalanced' as const }),
);

/** One step: an attempt of call `call` (a call of method `method`) on `subset`, ended now or later. */
const step = fc.oneof(
  fc.record({
    kind: fc.constant('attempt' as const),
    call: fc.integer({ min: 0, max: 11 }),
    subset: fc.integer({ min: 0, max: 2 }),
    ending,
    later: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('notStarted' as const),
    call: fc.integer({ min: 0, max: 11 }),
    subset: fc.integer({ min: -1, max: 2 }),
    code: fc.constantFrom(1, 4, 14),
  }),
  fc.constant({ kind: 'mark' as const }),
);

const add = (into: Map<number, number>, key: number, n: number) => into.set(key, (into.get(key) ?? 0) + n);

/** A histogram as counts by bucket middle (neighbouring buckets under 10 us share one, rounded). */
function histogramCounts(histogram: [number, number][], into = new Map<number, number>()): Map<number, number> {
  for (const [ms, n] of histogram) add(into, ms, n);
  return into;
}

/** Row sums of the methods of `subset`. */
function methodSum(methods: MethodCounters, subset: number, since: FigureRows | null) {
  const sum = { started: 0, finished: 0, abandoned: 0, refused: 0, rebalanced: 0, inFlight: 0 };
  const codes = new Map<number, number>();
  const notStarted = new Map<number, number>();
  const histogram = new Map<number, number>();
  methods.names.names.forEach((_, slot) => {
    const f = methods.figures(slot, subset, since);
    for (const key of ['started', 'finished', 'abandoned', 'refused', 'rebalanced'] as const) sum[key] += f[key];
    sum.inFlight += methods.inFlight(slot, subset);
    for (const [code, n] of f.codes) add(codes, code, n);
    for (const [code, n] of f.notStarted) add(notStarted, code, n);
    histogramCounts(f.latencyHistogram, histogram);
  });
  return { ...sum, codes, notStarted, histogram };
}

function subsetView(counters: SubsetCounters, subset: number, since: Parameters<SubsetCounters['figures']>[1]) {
  const f: RowFigures = counters.figures(subset, since);
  return {
    started: f.started,
    finished: f.finished,
    abandoned: f.abandoned,
    refused: f.refused,
    rebalanced: f.rebalanced,
    inFlight: rowInFlight(counters, subset),
    codes: f.codes,
    notStarted: f.notStarted,
    histogram: histogramCounts(f.latencyHistogram),
  };
}

describe('per-method counters', () => {
  it('add up to the subset for any sequence of attempts, answers and calls not started, and since a mark', () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 80 }),
        fc.array(methodName, { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 0, max: 4 }),
        (steps, callMethods, limit) => {
          const counters = new SubsetCounters(3);
          counters.methods = new MethodCounters({ methods: ['/a.S/M0'], limit }, 3);
          // Calls 0..5 through the pipeline's answers, 6..9 without, 10..11 without a context.
          const contexts = callMethods.map((method, call) => {
            if (call >= 10) return undefined;
            const context = new CallContext({ token: 't', splitName: 's' }, false, false, method);
            if (call < 6) context.answers = new CallAnswers(counters, counters.methodSlotOf(context));
            return context;
          });
          const pending: [PickResult, Ending][] = [];
          const end = ([attempt, how]: [PickResult, Ending]) => {
            if (how.kind === 'rebalanced') markEndedBySplit(attempt);
            const code = how.kind === 'answer' ? how.code : how.kind === 'hedgeLost' ? 1 : 14;
            const details = how.kind === 'hedgeLost' ? HEDGE_LOST : how.kind === 'refused' ? REFUSED : '';
            attempt.onCallEnded!(code, details, trailers);
          };
          let mark: ReturnType<SubsetCounters['mark']> | null = null;
          for (const s of steps) {
            if (s.kind === 'mark') mark ??= counters.mark();
            else if (s.kind === 'notStarted') {
              // Only the pipeline counts calls not started, and it always has their context.
              const context = contexts[s.call % 10]!;
              counters.notStartedCall(s.subset, s.code, counters.methodSlotOf(context));
            } else {
              const attempt = counters.attach(s.subset, complete(), contexts[s.call]);
              attempt.onCallStarted!();
              if (s.later) pending.push([attempt, s.ending]);
              else end([attempt, s.ending]);
            }
          }
          const check = () => {
            for (let subset = 0; subset < 3; subset++) {
              assert.deepEqual(methodSum(counters.methods!, subset, null), subsetView(counters, subset, null));
              if (mark !== null)
                assert.deepEqual(
                  methodSum(counters.methods!, subset, mark.methods),
                  subsetView(counters, subset, mark),
                );
            }
            assert.ok(counters.methods!.names.names.length <= 1 + limit + 2);
          };
          check();
          pending.forEach(end);
          for (const context of contexts) (context?.answers as CallAnswers | null)?.settle(0);
          check();
          for (let subset = 0; subset < 3; subset++) assert.equal(rowInFlight(counters, subset), 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never look at a call when per-method figures are off', () => {
    const counters = new SubsetCounters(2);
    const context = new CallContext({ token: 't', splitName: 's' }, false, false, SHOP.read);
    Object.defineProperty(context, 'method', {
      get: () => assert.fail('the method of a call was read with per-method figures off'),
    });
    context.answers = new CallAnswers(counters, counters.methodSlotOf(context));
    const attempt = counters.attach(1, complete(), context);
    attempt.onCallStarted!();
    attempt.onCallEnded!(0, '', trailers);
    (context.answers as CallAnswers).settle(0);
    counters.notStartedCall(0, 4, counters.methodSlotOf(context));
    assert.deepEqual([context.methodSlot, context.methodTable, counters.mark().methods], [-1, null, null]);
    assert.equal(counters.figures(1, null).finished, 1);
  });

  it('resolve a call once, and again for the counters of another split', () => {
    const counters = new SubsetCounters(1);
    counters.methods = new MethodCounters({ methods: [], limit: 10 }, 1);
    const other = new MethodCounters({ methods: [SHOP.write], limit: 10 }, 1);
    const context = new CallContext({ token: 't', splitName: 's' }, false, false, SHOP.read);
    let reads = 0;
    Object.defineProperty(context, 'method', { get: () => (reads++, SHOP.read) });
    for (let i = 0; i < 3; i++) {
      const attempt = counters.attach(0, complete(), context);
      attempt.onCallStarted!();
      attempt.onCallEnded!(0, '', trailers);
    }
    assert.equal(reads, 1);
    assert.equal(other.slotOf(context), 1, "the other split's own slot");
    assert.equal(reads, 2);
    assert.equal(counters.methods.figures(counters.methods.slotOf(context), 0, null).finished, 3);
  });
});

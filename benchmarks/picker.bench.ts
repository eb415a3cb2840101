/**
 * Pick cost: nanoseconds and bytes allocated per `pick()` of the split's picker at 2, 8 and 64
 * subsets, keyless and sticky, against grpc-js's own `round_robin` picker and a random weighted
 * pick (Envoy's and grpc-js-xds's `weighted_target` way).
 *
 * The pickers are the real ones of live channels (each channel READY over real servers on
 * loopback): `channel.internalChannel.currentPicker`, a grpc-js internal, is the only way to hold
 * a picker without a call around it. Picks are timed in batches of 1024; the call hooks each
 * result carries (`onCallStarted`, `onCallEnded`: the split counts and times the call there) run
 * between batches, untimed, as grpc-js runs them later on a real call. Their own cost is
 * measured separately.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { startBackends } from './backends.js';
import { roundRobinClient, splitClient, waitForReady, waitForSubsets } from './clients.js';
import { sized, type BenchOptions } from './options.js';
import { cumulative, pickBinary } from './random-pick.js';
import type { BenchCheck, BenchSection } from './report.js';
import { fmt, fmtRatio, fmtSpread, ratioSpread, spread, type Spread } from './stats.js';

interface Variant {
  name: string;
  /** Picks into `out[0..n)`. */
  pickBatch: (out: unknown[], n: number) => void;
}

type Hooked = {
  pickResultType: number;
  onCallStarted: (() => void) | null;
  onCallEnded: ((code: number, details: string, metadata: grpc.Metadata) => void) | null;
};

/** What a live channel's picker looks like from outside. */
interface PickerLike {
  pick(args: { metadata: grpc.Metadata; extraPickInfo: Record<string, string> }): Hooked;
}

function currentPicker(client: grpc.Client): PickerLike {
  const channel = client.getChannel() as unknown as { internalChannel: { currentPicker: PickerLike } };
  return channel.internalChannel.currentPicker;
}

const TRAILERS = new grpc.Metadata();
const BATCH = 1024;
let sink = 0;

function batchOf(picker: PickerLike, metadata: grpc.Metadata): Variant['pickBatch'] {
  const args = { metadata, extraPickInfo: {} };
  return (out, n) => {
    for (let i = 0; i < n; i++) out[i] = picker.pick(args);
  };
}

/** What grpc-js does with a COMPLETE result once the call is on the wire, and at its end. */
function runHooks(results: unknown[], n: number): void {
  for (let i = 0; i < n; i++) {
    const result = results[i] as Hooked | number;
    if (typeof result === 'number') {
      sink += result;
      continue;
    }
    sink += result.pickResultType;
    result.onCallStarted?.call(result);
    result.onCallEnded?.(0, 'OK', TRAILERS);
  }
}

function timeNs(variant: Variant, picks: number): number {
  const out = new Array<unknown>(BATCH);
  let elapsed = 0;
  for (let done = 0; done < picks; done += BATCH) {
    const start = performance.now();
    variant.pickBatch(out, BATCH);
    elapsed += performance.now() - start;
    runHooks(out, BATCH);
  }
  return (elapsed * 1e6) / (Math.ceil(picks / BATCH) * BATCH);
}

/** Bytes allocated per pick, from the growth of V8's young generation over one batch (which
 * stays below a scavenge); the median of many batches discards those a GC cut into. */
function bytesPerPick(variant: Variant, batches: number): number {
  const out = new Array<unknown>(BATCH);
  const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const before = young();
    variant.pickBatch(out, BATCH);
    const grown = young() - before;
    runHooks(out, BATCH);
    if (grown >= 0) samples.push(grown / BATCH);
  }
  return spread(samples).median;
}

/** Nanoseconds of the split's call hooks per call (count, time, histogram), measured apart. */
function hookCostNs(client: grpc.Client, picks: number): number {
  const picker = currentPicker(client);
  const args = { metadata: new grpc.Metadata(), extraPickInfo: {} };
  const out = new Array<Hooked>(BATCH);
  let elapsed = 0;
  for (let done = 0; done < picks; done += BATCH) {
    for (let i = 0; i < BATCH; i++) out[i] = picker.pick(args);
    const start = performance.now();
    runHooks(out, BATCH);
    elapsed += performance.now() - start;
  }
  return (elapsed * 1e6) / (Math.ceil(picks / BATCH) * BATCH);
}

async function splitVariants(
  ports: Record<string, number>,
  clients: grpc.Client[],
  splits: TrafficSplit[],
): Promise<Variant[]> {
  const variants: Variant[] = [];
  const portList = Object.values(ports);
  // Weights 1..n repeat in a cycle short enough to be replayed from a table; "mixed" weights
  // (up to 1000, coprime-ish) do not, and show the computed (heap) path.
  const cases: { n: number; mixed: boolean; sticky: boolean }[] = [
    { n: 2, mixed: false, sticky: false },
    { n: 2, mixed: false, sticky: true },
    { n: 8, mixed: false, sticky: false },
    { n: 8, mixed: false, sticky: true },
    { n: 64, mixed: false, sticky: false },
    { n: 64, mixed: true, sticky: false },
  ];
  for (const { n, mixed, sticky } of cases) {
    const subsets = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`s${i}`, `ipv4:127.0.0.1:${portList[i % portList.length]}`]),
    );
    const weightOf = (i: number) => (n === 2 ? [90, 10][i]! : mixed ? ((i * 7919) % 997) + 3 : i + 1);
    const weights = Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, weightOf(i)]));
    {
      const split = new TrafficSplit({
        name: `bench${n}${sticky ? 's' : ''}${mixed ? 'm' : ''}`,
        subsets,
        weights,
        ...(sticky ? { stickyKey: 'x-user-id' } : {}),
      });
      const client = splitClient(split);
      splits.push(split);
      clients.push(client);
      await waitForReady(client);
      await waitForSubsets(split);
      const metadata = new grpc.Metadata();
      if (sticky) metadata.set('x-user-id', 'user-4711@example.com');
      variants.push({
        name: `split, ${n} subsets${mixed ? ' (weights up to 1000)' : ''}, ${sticky ? 'sticky key' : 'keyless'}`,
        pickBatch: batchOf(currentPicker(client), metadata),
      });
    }
  }
  return variants;
}

export async function runPickerBench(opts: BenchOptions): Promise<BenchSection> {
  const log = opts.log ?? (() => {});
  const picks = sized(opts, { full: 2_000_000, quick: 500_000, tiny: 2_000 });
  const rounds = sized(opts, { full: 7, quick: 3, tiny: 1 });
  const backends = await startBackends(['a', 'b']);
  const clients: grpc.Client[] = [];
  const splits: TrafficSplit[] = [];
  try {
    const rr = roundRobinClient(Object.values(backends.ports));
    clients.push(rr);
    await waitForReady(rr);
    const cum = cumulative([90, 10]);
    let state = 1;
    const variants: Variant[] = [
      { name: 'grpc-js round_robin (2 endpoints)', pickBatch: batchOf(currentPicker(rr), new grpc.Metadata()) },
      ...(await splitVariants(backends.ports, clients, splits)),
      {
        name: 'random weighted pick, 2 subsets (Math.random)',
        pickBatch: (out, n) => {
          for (let i = 0; i < n; i++) out[i] = pickBinary(cum, Math.random());
        },
      },
      {
        // A seeded xorshift, in case Math.random's own cost is what dominates.
        name: 'random weighted pick, 2 subsets (xorshift32)',
        pickBatch: (out, n) => {
          for (let i = 0; i < n; i++) {
            state ^= state << 13;
            state ^= state >>> 17;
            state ^= state << 5;
            out[i] = pickBinary(cum, (state >>> 0) / 4294967296);
          }
        },
      },
    ];
    for (const v of variants) timeNs(v, Math.min(picks, 200_000)); // warm up every path
    const ns = variants.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      log(`picker: round ${r + 1}/${rounds}`);
      variants.forEach((v, i) => ns[i]!.push(timeNs(v, picks)));
    }
    const bytes = variants.map((v) => bytesPerPick(v, sized(opts, { full: 41, quick: 21, tiny: 1 })));
    const hooksNs = spread(Array.from({ length: rounds }, () => hookCostNs(clients[1]!, picks)));
    const setWeightsUs = spread(
      Array.from({ length: rounds }, () =>
        setWeightsCostUs(splits[0]!, sized(opts, { full: 20_000, quick: 5_000, tiny: 100 })),
      ),
    );
    const spreads = ns.map((values) => spread(values));
    const vsRr = ns.map((values) => ratioSpread(values, ns[0]!));
    return {
      title: 'Pick cost',
      notes: [
        `${fmt(picks, 0)} picks per round, ${rounds} round(s), variants alternating within ` +
          `each round; ns per pick() call, median (min-max), timed in batches of ${BATCH}.`,
        'The split and round_robin pickers are those of live, READY channels ' +
          '(pick_first leaves under round_robin, as grpc-js builds them).',
        `The split's call hooks (count the call, read the clock at start and end, fill ` +
          `the latency histogram) run later on the call path, not in pick(): ${fmtSpread(hooksNs, 1)} ` +
          `ns per call, measured apart; most of it is two performance.now() reads.`,
        `setWeights() on the 2-subset split (one READY channel, which rebuilds its picker ` +
          `synchronously): ${fmtSpread(setWeightsUs, 2)} us per call, alternating 90/10 and 10/90.`,
        'Bytes per pick: growth of the young generation over one batch, median of many. The pick ' +
          "result object (about 64 bytes) is grpc-js's own: its pick_first leaf makes one per pick.",
      ],
      tables: [
        {
          columns: ['picker', 'ns per pick', 'x round_robin', 'bytes per pick'],
          rows: variants.map((v, i) => [v.name, fmtSpread(spreads[i]!, 1), fmtRatio(vsRr[i]!), fmt(bytes[i]!, 1)]),
        },
      ],
      checks: [
        ...checksFor(variants, spreads, vsRr, bytes),
        {
          target: 'setWeights() on a split with one READY channel: <= 10 us',
          measured: `${fmtSpread(setWeightsUs, 2)} us`,
          ok: setWeightsUs.median <= 10,
        },
      ],
      json: {
        picks,
        rounds,
        hookNsPerCall: hooksNs.values,
        setWeightsUs: setWeightsUs.values,
        variants: variants.map((v, i) => ({ name: v.name, nsPerPick: ns[i], bytesPerPick: bytes[i] })),
        sink: sink % 2,
      },
    };
  } finally {
    for (const client of clients) client.close();
    for (const split of splits) split.close();
    await backends.stop();
  }
}

/** Microseconds per `setWeights()`, alternating two weightings so every call changes them. */
function setWeightsCostUs(split: TrafficSplit, calls: number): number {
  const a = { s0: 90, s1: 10 };
  const b = { s0: 10, s1: 90 };
  const start = performance.now();
  for (let i = 0; i < calls; i++) split.setWeights(i % 2 === 0 ? b : a);
  const us = ((performance.now() - start) * 1e3) / calls;
  split.setWeights({ s0: 90, s1: 10 });
  return us;
}

function checksFor(variants: Variant[], spreads: Spread[], vsRr: Spread[], bytes: number[]): BenchCheck[] {
  const find = (name: string) => variants.findIndex((v) => v.name === name);
  const checks: BenchCheck[] = [];
  const limits: [string, number][] = [
    ['split, 2 subsets, keyless', 100],
    ['split, 64 subsets, keyless', 150],
    ['split, 64 subsets (weights up to 1000), keyless', 150],
    ['split, 8 subsets, sticky key', 1000],
  ];
  for (const [name, limitNs] of limits) {
    const i = find(name);
    checks.push({
      target: `${name}: <= ${limitNs} ns per pick`,
      measured: `${fmt(spreads[i]!.median, 1)} ns`,
      ok: spreads[i]!.median <= limitNs,
      group: 'pick cost <= 100 ns (2 subsets), 150 ns (64), 1 us (sticky key)',
      label: name.replace(/^split, /, ''),
    });
  }
  for (const name of [
    'split, 2 subsets, keyless',
    'split, 64 subsets, keyless',
    'split, 64 subsets (weights up to 1000), keyless',
  ]) {
    const i = find(name);
    const label = name.replace(/^split, /, '');
    checks.push({
      target: `${name}: <= 2 x round_robin`,
      measured: fmtRatio(vsRr[i]!),
      ok: vsRr[i]!.median <= 2,
      group: 'pick cost <= 2 x round_robin',
      label,
    });
    checks.push({
      target: `${name}: no allocation beyond round_robin's (bytes per pick)`,
      measured: `${fmt(bytes[i]!, 1)} vs ${fmt(bytes[0]!, 1)}`,
      ok: bytes[i]! <= bytes[0]! + 4,
      group: "no allocation per pick beyond round_robin's (bytes per pick)",
      label,
    });
  }
  return checks;
}

/**
 * The pick against grpc-js's own: nanoseconds per pick plus the pick result's call hooks
 * (`onCallStarted`, `onCallEnded`), the split's picker against `round_robin`'s, in one process,
 * variants alternating within each round, medians over rounds of per-round ratios.
 *
 * Each pick gets metadata made the way a real call makes it: the split's public call guard and
 * interceptors run per call (untimed) on a fake bottom call (`pick-pipeline.ts`), and the call is
 * ended with OK after its hooks ran (untimed), so the per-call records the split attaches are
 * fresh for every pick, as they are for real calls. Both pickers are those of live, READY
 * channels over two echo servers on loopback (round_robin of pick_first leaves, as grpc-js
 * builds them). A real call through each channel checks that the prepared metadata has the
 * shape the picker gets from grpc-js; headers grpc-js adds below the interceptors are copied on.
 * The checks compare the pick alone, as the design target does (round_robin's leaf has no hooks).
 * A hand-made floor (pick-floor.ts) runs on the 2-subset split's calls beside them: what any
 * per-call split that reads the call's context and counts per subset pays at least.
 * @module
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { callEcho, echoService, type EchoClientInstance } from '../test/helpers/echo-service.js';
import { startBackends } from './backends.js';
import { roundRobinClient, splitClient, waitForReady, waitForSubsets } from './clients.js';
import { loggerOf, sized, type BenchOptions } from './options.js';
import {
  capturePickMetadata,
  livePicker,
  metadataShape,
  pickBenchWeights,
  splitCallPipeline,
  type PickerLike,
  type PickResultLike,
  type PreparedCall,
} from './pick-pipeline.js';
import type { BenchCheck, BenchSection } from './report.js';
import { fmt, fmtRatio, fmtSpread, ratioSpread, spread, type Spread } from './stats.js';
import { floorOrder, FloorPicker } from './pick-floor.js';

const BATCH = 1024;
const TRAILERS = new grpc.Metadata();
/** Sticky keys cycle through this many users, so a pick sees many keys, as in production. */
const STICKY_USERS = 1000;

interface Variant {
  key: 'rr' | 'keyless2' | 'keyless100' | 'sticky8' | 'floor2' | 'floor100';
  label: string;
  picker: PickerLike;
  /** Call number `i`'s prepared call. */
  prepare: (i: number) => PreparedCall;
  /** Empty when the prepared metadata has the shape of a real call's; else what differs. */
  shapeDifference: string[];
}

interface RoundFigures {
  pickNs: number;
  hooksNs: number;
}

/** Runs the bench; see the module comment. */
export async function runPickRatioBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const picks = sized(opts, { full: 200_000, quick: 40_000, tiny: 2 * BATCH });
  const rounds = sized(opts, { full: 21, quick: 15, tiny: 1 });
  const backends = await startBackends(['v1', 'v2']);
  const closers: (() => void)[] = [];
  try {
    const ports = [backends.ports['v1']!, backends.ports['v2']!];
    const rr = roundRobinClient(ports);
    closers.push(() => rr.close());
    await waitForReady(rr);
    const variants: Variant[] = [await roundRobinVariant(rr)];
    for (const [key, n, sticky] of [
      ['keyless2', 2, false],
      ['keyless100', 100, false],
      ['sticky8', 8, true],
    ] as const) {
      variants.push(await splitVariant(key, n, sticky, backends.target.bind(backends), closers));
    }
    for (const [key, of, n] of [
      ['floor2', 'keyless2', 2],
      ['floor100', 'keyless100', 100],
    ] as const)
      variants.push(
        await floorVariant(
          key,
          n,
          ports,
          variants.find((v) => v.key === of)!,
          closers,
        ),
      );
    for (const v of variants) timeRound(v, Math.min(picks, 20 * BATCH)); // warm every path up
    const figures = variants.map(() => [] as RoundFigures[]);
    for (let r = 0; r < rounds; r++) {
      // Rotate the first variant so none always runs right after the same other one.
      for (let k = 0; k < variants.length; k++) {
        const i = (r + k) % variants.length;
        figures[i]!.push(timeRound(variants[i]!, picks));
      }
      log(`pick-ratio: round ${r + 1}/${rounds}`);
    }
    return report(variants, figures, picks, rounds);
  } finally {
    for (const close of closers.reverse()) close();
    await backends.stop();
  }
}

async function roundRobinVariant(client: EchoClientInstance): Promise<Variant> {
  const real = await capturePickMetadata(client, () => callEcho(client));
  const extra = real.getMap();
  const prepare = (): PreparedCall => {
    const metadata = new grpc.Metadata();
    for (const [name, value] of Object.entries(extra)) metadata.set(name, value);
    return { metadata, end() {} };
  };
  return {
    key: 'rr',
    label: 'grpc-js round_robin, 2 endpoints',
    picker: livePicker(client),
    prepare,
    shapeDifference: [],
  };
}

/** The hand-made floor (pick-floor.ts) over a round_robin picker per subset (to v1 and v2 in
 * turn, with the split variant's weights), on the calls the split variant with as many subsets
 * prepares. */
async function floorVariant(
  key: Variant['key'],
  n: number,
  ports: number[],
  split: Variant,
  closers: (() => void)[],
): Promise<Variant> {
  const children = Array.from({ length: n }, (_, i) => roundRobinClient([ports[i % 2]!]));
  closers.push(...children.map((client) => () => client.close()));
  await Promise.all(children.map((client) => waitForReady(client)));
  return {
    key,
    label: `floor: context read, fixed order, rr child, ${n} subsets`,
    picker: new FloorPicker(
      children.map((client) => livePicker(client)),
      floorOrder(pickBenchWeights(n)),
    ),
    prepare: split.prepare,
    shapeDifference: split.shapeDifference,
  };
}

async function splitVariant(
  key: Variant['key'],
  n: number,
  sticky: boolean,
  target: (name: string) => string,
  closers: (() => void)[],
): Promise<Variant> {
  const names = Array.from({ length: n }, (_, i) => `s${i}`);
  const subsets = Object.fromEntries(names.map((s, i) => [s, target(i % 2 === 0 ? 'v1' : 'v2')]));
  const weights = Object.fromEntries(pickBenchWeights(n).map((w, i) => [names[i]!, w]));
  const split = new TrafficSplit({
    name: `pick-${key}`,
    subsets,
    weights,
    ...(sticky ? { stickyKey: 'x-user-id' } : {}),
  });
  const client = splitClient(split);
  closers.push(
    () => split.close(),
    () => client.close(),
  );
  await waitForReady(client);
  await waitForSubsets(split);
  const headers = (i: number): grpc.Metadata => {
    const metadata = new grpc.Metadata();
    if (sticky) metadata.set('x-user-id', `user-${i % STICKY_USERS}@example.com`);
    return metadata;
  };
  const real = await capturePickMetadata(client, () => callEcho(client, {}, headers(0)));
  const pipeline = splitCallPipeline(split, echoService.echo);
  const sample = pipeline(headers(0));
  sample.end();
  // Headers grpc-js adds below the interceptors (before the pick) go on every prepared call.
  const own = sample.metadata.getMap();
  const extra = Object.entries(real.getMap()).filter(([name]) => !(name in own));
  const withExtra = [...metadataShape(sample.metadata), ...extra.map(([name]) => `header ${name}`)].sort();
  const realShape = metadataShape(real);
  const shapeDifference = [
    ...realShape.filter((x) => !withExtra.includes(x)).map((x) => `real call only: ${x}`),
    ...withExtra.filter((x) => !realShape.includes(x)).map((x) => `prepared only: ${x}`),
  ];
  const prepare = (i: number): PreparedCall => {
    const call = pipeline(headers(i));
    for (const [name, value] of extra) call.metadata.set(name, value);
    return call;
  };
  const label = `traffic-split, ${n} subsets, ${sticky ? `sticky key (${STICKY_USERS} users)` : 'keyless'}`;
  return { key, label, picker: livePicker(client), prepare, shapeDifference };
}

/** One round of `picks` picks of `v`: the picks and the hooks timed apart, preparation and the
 * calls' ends not timed. */
function timeRound(v: Variant, picks: number): RoundFigures {
  const calls = new Array<PreparedCall>(BATCH);
  const results = new Array<PickResultLike>(BATCH);
  const args = { metadata: new grpc.Metadata(), extraPickInfo: {} as Record<string, string> };
  let pickMs = 0;
  let hooksMs = 0;
  let done = 0;
  for (; done < picks; done += BATCH) {
    for (let i = 0; i < BATCH; i++) calls[i] = v.prepare(done + i);
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      args.metadata = calls[i]!.metadata;
      results[i] = v.picker.pick(args);
    }
    const t1 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const result = results[i]!;
      result.onCallStarted?.call(result);
      result.onCallEnded?.(grpc.status.OK, 'OK', TRAILERS);
    }
    const t2 = performance.now();
    for (let i = 0; i < BATCH; i++) calls[i]!.end();
    pickMs += t1 - t0;
    hooksMs += t2 - t1;
  }
  return { pickNs: (pickMs * 1e6) / done, hooksNs: (hooksMs * 1e6) / done };
}

function report(variants: Variant[], figures: RoundFigures[][], picks: number, rounds: number): BenchSection {
  const total = (i: number): number[] => figures[i]!.map((f) => f.pickNs + f.hooksNs);
  const pickOnly = (i: number): number[] => figures[i]!.map((f) => f.pickNs);
  const rows = variants.map((v, i) => [
    v.label,
    fmtSpread(spread(pickOnly(i)), 1),
    fmtSpread(spread(figures[i]!.map((f) => f.hooksNs)), 1),
    fmtSpread(spread(total(i)), 1),
    i === 0 ? '1x' : fmtRatio(ratioSpread(pickOnly(i), pickOnly(0))),
    i === 0 ? '1x' : fmtRatio(ratioSpread(total(i), total(0))),
  ]);
  const at = (key: Variant['key']): number => variants.findIndex((v) => v.key === key);
  // The acceptance compares the pick alone (round_robin has no hooks); pick + hooks is in the table.
  const ratio = (key: Variant['key']): Spread => ratioSpread(pickOnly(at(key)), pickOnly(0));
  const ns = (key: Variant['key']): Spread => spread(pickOnly(at(key)));
  const measured = (key: Variant['key']): string =>
    `${fmtRatio(ratio(key))}, ${fmt(ns(key).median, 1)} vs ${fmt(spread(pickOnly(0)).median, 1)} ns`;
  const group = 'keyless pick <= 2x round_robin at 2 subsets, <= 3x at 100';
  const checks: BenchCheck[] = [
    {
      target: 'keyless pick, 2 subsets: <= 2 x round_robin',
      measured: measured('keyless2'),
      ok: ratio('keyless2').median <= 2,
      group,
      label: '2 subsets',
    },
    {
      target: 'keyless pick, 100 subsets: <= 3 x round_robin',
      measured: measured('keyless100'),
      ok: ratio('keyless100').median <= 3,
      group,
      label: '100 subsets',
    },
    {
      target: 'hand-made floor of a keyless pick (pick-floor.ts), for comparison',
      measured: `2 subsets ${measured('floor2')}; 100 subsets ${measured('floor100')}`,
      ok: true,
      informational: true,
      group: 'floor of a keyless pick (context read, fixed order, rr child, pooled result)',
    },
    {
      target: 'sticky pick, 8 subsets (no target in one process: <= 1.2 x the previous release)',
      measured: `${fmt(ns('sticky8').median, 1)} ns, ${fmtRatio(ratio('sticky8'))} round_robin`,
      ok: true,
      informational: true,
      group: `sticky pick, 8 subsets, ${STICKY_USERS} users`,
    },
  ];
  const mismatched = variants.filter((v) => v.shapeDifference.length > 0);
  const notes = [
    `${fmt(picks, 0)} picks per variant per round, ${rounds} round(s), variants alternating (rotated) within ` +
      `each round; ns per call, median (min–max); ratios per round against round_robin of the same round.`,
    "Each pick gets the metadata of its own call, made by the split's call guard and " +
      'interceptors (untimed), and each call is ended with OK after its hooks (untimed). ' +
      'grpc-js clones the metadata per pick; that clone is not timed, for either picker.',
    "hooks: the pick result's onCallStarted and onCallEnded, which grpc-js runs when the " +
      "call starts on the wire and when it ends; round_robin's pick_first leaf has none.",
    mismatched.length === 0
      ? 'The prepared metadata has the header names and option keys of ' +
        "a real call's (checked once per split through its live picker)."
      : `The prepared metadata differs from a real ` +
        `call's: ${mismatched.map((v) => `${v.label}: ${v.shapeDifference.join(', ')}`).join('; ')}.`,
  ];
  return {
    title: 'Pick against round_robin (pick + call hooks, one process)',
    notes,
    tables: [
      { columns: ['picker', 'pick ns', 'hooks ns', 'pick + hooks ns', 'pick ÷ rr', 'pick + hooks ÷ rr'], rows },
    ],
    checks,
    json: {
      picks,
      rounds,
      variants: variants.map((v, i) => ({
        key: v.key,
        name: v.label,
        pickNs: pickOnly(i),
        hooksNs: figures[i]!.map((f) => f.hooksNs),
        shapeDifference: v.shapeDifference,
      })),
    },
  };
}

/**
 * The pick of two builds of this package, compared: `node dist/benchmarks/release-pick.js <A> <B>`,
 * where A and B are the built `dist/src/index.js` (or `dist/esm/index.js`) of each, for example
 * this checkout and a build of the previous release:
 *
 *   git worktree add /tmp/previous ddd9063 && ln -s "$PWD/node_modules" /tmp/previous/node_modules
 *   (cd /tmp/previous && npx tsc -p .)
 *   node dist/benchmarks/release-pick.js dist/src/index.js /tmp/previous/dist/src/index.js
 *
 * Two builds register the same policy name, so they cannot share a process: each round runs A and
 * B in child processes, one after the other (the order alternates), and each child times its
 * split's picks against grpc-js's `round_robin` picks in the same process. The figures are those
 * per-process ratios, medians over rounds; A / B is the median of the per-round quotients.
 *
 * Picks get bare metadata (the sticky key header, or nothing), with no call context: what every
 * release's picker accepts, so both builds run the same calls.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { echoService } from '../test/helpers/echo-service.js';
import { startBackends } from './backends.js';
import { roundRobinClient, waitForReady } from './clients.js';
import { livePicker, pickBenchWeights, type PickerLike, type PickResultLike } from './pick-pipeline.js';
import { spread } from './stats.js';

const BATCH = 1024;
const USERS = 1000;
const TRAILERS = new grpc.Metadata();
const COMPLETE = 0;

interface ChildFigures {
  keyless: number;
  sticky: number;
  rr: number;
}

type SplitLike = { target: string; channelOptions: grpc.ClientOptions; close(): void };
type SplitClass = new (options: Record<string, unknown>) => SplitLike;

/** Child mode: times the build at `lib`, prints one JSON line. */
async function child(lib: string): Promise<void> {
  const { TrafficSplit } = (await import(pathToFileURL(resolve(lib)).href)) as { TrafficSplit: SplitClass };
  const backends = await startBackends(['v1', 'v2']);
  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const clients: grpc.Client[] = [];
  const splitPicker = async (n: number, sticky: boolean): Promise<{ picker: () => PickerLike; split: SplitLike }> => {
    const names = Array.from({ length: n }, (_, i) => `s${i}`);
    const split = new TrafficSplit({
      name: `release-${n}-${sticky}`,
      subsets: Object.fromEntries(names.map((s, i) => [s, backends.target(i % 2 === 0 ? 'v1' : 'v2')])),
      weights: Object.fromEntries(pickBenchWeights(n).map((w, i) => [names[i]!, w])),
      ...(sticky ? { stickyKey: 'x-user-id' } : {}),
    });
    const client = new Client(split.target, grpc.credentials.createInsecure(), split.channelOptions);
    clients.push(client);
    await waitForReady(client);
    await everySubsetReady(() => livePicker(client), sticky);
    return { picker: () => livePicker(client), split };
  };
  // Calls without the split's interceptor are expected here; keep the output to the figures.
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const keyless = await splitPicker(2, false);
  const sticky = await splitPicker(8, true);
  const rr = roundRobinClient([backends.ports['v1']!, backends.ports['v2']!]);
  clients.push(rr);
  await waitForReady(rr);
  const rounds = { keyless: [] as number[], sticky: [] as number[], rr: [] as number[] };
  for (let r = 0; r < 24; r++) {
    const warm = r < 3;
    const k = timePicks(keyless.picker(), false);
    const s = timePicks(sticky.picker(), true);
    const b = timePicks(livePicker(rr), false);
    if (warm) continue;
    rounds.keyless.push(k / b);
    rounds.sticky.push(s / b);
    rounds.rr.push(b);
  }
  const figures: ChildFigures = {
    keyless: spread(rounds.keyless).median,
    sticky: spread(rounds.sticky).median,
    rr: spread(rounds.rr).median,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  for (const client of clients) client.close();
  keyless.split.close();
  sticky.split.close();
  await backends.stop();
}

/** Waits (bounded) until a pick of every sticky user completes: every subset READY. */
async function everySubsetReady(picker: () => PickerLike, sticky: boolean): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    let queued = 0;
    for (let user = 0; user < (sticky ? USERS : 64); user++) {
      const result = picker().pick({ metadata: headers(sticky, user), extraPickInfo: {} });
      if (result.pickResultType !== COMPLETE) queued++;
      else endPick(result);
    }
    if (queued === 0) return;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error('release-pick: subsets not READY after 10 s');
}

function headers(sticky: boolean, user: number): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (sticky) metadata.set('x-user-id', `user-${user % USERS}@example.com`);
  return metadata;
}

function endPick(result: PickResultLike): void {
  result.onCallStarted?.call(result);
  result.onCallEnded?.(grpc.status.OK, 'OK', TRAILERS);
}

/** ns per pick over 40 batches; metadata made and hooks run outside the timing. */
function timePicks(picker: PickerLike, sticky: boolean): number {
  const metadata = new Array<grpc.Metadata>(BATCH);
  const results = new Array<PickResultLike>(BATCH);
  const args = { metadata: new grpc.Metadata(), extraPickInfo: {} as Record<string, string> };
  let ns = 0;
  for (let batch = 0; batch < 40; batch++) {
    for (let i = 0; i < BATCH; i++) metadata[i] = headers(sticky, batch * BATCH + i);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) {
      args.metadata = metadata[i]!;
      results[i] = picker.pick(args);
    }
    ns += Number(process.hrtime.bigint() - t0);
    for (let i = 0; i < BATCH; i++) endPick(results[i]!);
  }
  return ns / (40 * BATCH);
}

/** Parent mode: alternates child runs of A and B, prints the comparison. */
function compare(a: string, b: string, rounds: number): void {
  const self = fileURLToPath(import.meta.url);
  const run = (lib: string): ChildFigures => {
    const out = spawnSync(process.execPath, [self, '--child', lib], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`release-pick: child for ${lib} failed: ${out.stderr}`);
    return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as ChildFigures;
  };
  const of = { a: [] as ChildFigures[], b: [] as ChildFigures[] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const side of order) of[side].push(run(side === 'a' ? a : b));
    process.stderr.write(`release-pick: round ${r + 1}/${rounds}\n`);
  }
  const line = (key: 'keyless' | 'sticky', label: string): string => {
    const quotients = of.a.map((fa, i) => fa[key] / of.b[i]![key]);
    const med = (list: ChildFigures[]): string => spread(list.map((f) => f[key])).median.toFixed(2);
    return `${label}: A ${med(of.a)}x round_robin, B ${med(of.b)}x; A / B ${spread(quotients).median.toFixed(2)}`;
  };
  console.log(`A = ${a}\nB = ${b}\n${rounds} rounds, each child process its own round_robin baseline`);
  console.log(line('keyless', 'keyless pick, 2 subsets (90/10)'));
  console.log(line('sticky', `sticky pick, 8 subsets, ${USERS} users`));
}

const args = process.argv.slice(2);
if (args[0] === '--child') await child(args[1]!);
else if (args.length >= 2) compare(args[0]!, args[1]!, Number(args[2] ?? 6));
else {
  console.error('usage: node dist/benchmarks/release-pick.js <A dist/src/index.js> <B dist/src/index.js> [rounds=6]');
  process.exitCode = 2;
}

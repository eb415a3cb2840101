/**
 * Does shadow traffic touch the primary? Sequential unary calls (C = 1) through a split at
 * v1:100 v2:0, in alternating rounds: no mirror; a 0% mirror (its per-call layer, no copy); a
 * 10% mirror onto a v2 that answers at once,
 * fire and forget, and with `compare: true`; a 10% mirror onto a v2 that answers after 2 s, with `maxInFlight: 5`
 * (most copies dropped, the others held until their 1 s timeout); a 10% mirror, `compare: true`,
 * `maxInFlight: 2`, onto a server answering 10 MB (test/fixtures/big-answer-server.ts): what
 * receiving, comparing and hashing big answers costs the primaries on the event loop they share.
 * The primary's p50 and p99 in each round, and the ratio of each mirrored variant to the plain
 * one, as medians over rounds. The echo servers run in a child process (`server-process.ts`),
 * as in the e2e bench.
 * @module
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { TrafficSplit, type MirrorOptions } from '../src/index.js';
import { callEcho, echoClient } from '../test/helpers/echo-service.js';
import { startBackends } from './backends.js';
import { loggerOf, sized, type BenchOptions } from './options.js';
import type { BenchSection } from './report.js';
import { fmt, quantileInPlace, spread, type Spread } from './stats.js';

type Variant = { name: string; mirror: MirrorOptions | null };

/** Bytes of each answer of the big-answer server. */
const BIG_ANSWER_BYTES = 10_000_000;

/** The server of test/fixtures/big-answer-server.ts, in a child process of its own. */
async function startBigAnswerServer(): Promise<{ target: string; stop(): void }> {
  const script = fileURLToPath(new URL('../test/fixtures/big-answer-server.js', import.meta.url));
  const child = fork(script, [String(BIG_ANSWER_BYTES)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { target: `ipv4:127.0.0.1:${message.port}`, stop: () => child.kill('SIGKILL') };
}

export async function runMirrorBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const rounds = sized(opts, { full: 7, quick: 3, tiny: 1 });
  const calls = sized(opts, { full: 3000, quick: 1000, tiny: 100 });
  // The echo servers answer with their name, so every compared copy mismatches: the costliest
  // case (a sample with two SHA-256 hashes per copy). `slow` holds each call 2 s (its own
  // `slowServer` request option).
  const backends = await startBackends(['v1', 'v2', 'slow']);
  const big = await startBigAnswerServer();
  const variants: (Variant & { target: string })[] = [
    { name: 'no mirror', mirror: null, target: backends.target('v2') },
    {
      name: 'mirror 0% (the layer only, no copy)',
      mirror: { subset: 'v2', percent: 0 },
      target: backends.target('v2'),
    },
    { name: 'mirror 10%, fire and forget', mirror: { subset: 'v2', percent: 10 }, target: backends.target('v2') },
    {
      name: 'mirror 10%, compare: true (all mismatch)',
      mirror: { subset: 'v2', percent: 10, compare: true },
      target: backends.target('v2'),
    },
    {
      name: 'mirror 10%, v2 answers after 2 s, maxInFlight 5',
      mirror: { subset: 'v2', percent: 10, maxInFlight: 5 },
      target: backends.target('slow'),
    },
    {
      name: 'mirror 10%, 10 MB answers, compare: true, maxInFlight 2',
      mirror: { subset: 'v2', percent: 10, compare: true, maxInFlight: 2 },
      target: big.target,
    },
  ];
  const p50s = variants.map(() => [] as number[]);
  const p99s = variants.map(() => [] as number[]);
  const dropped = variants.map(() => 0);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [i, variant] of variants.entries()) {
        const split = new TrafficSplit({
          subsets: { v1: backends.target('v1'), v2: variant.target },
          weights: { v1: 100, v2: 0 },
          mirror: variant.mirror,
        });
        // Big enough for the big-answer server's answers on the copy channels (built from these options).
        const maxReceive = { 'grpc.max_receive_message_length': 2 * BIG_ANSWER_BYTES };
        const client = echoClient(split.target, split.withChannelOptions(maxReceive));
        try {
          for (let w = 0; w < 100; w++)
            await callEcho(client, { text: 'warm-up', slowServer: 'slow', delayMs: 2_000 });
          const latencies = new Float64Array(calls);
          for (let c = 0; c < calls; c++) {
            const start = performance.now();
            await callEcho(client, { text: `req-${c}`, slowServer: 'slow', delayMs: 2_000 });
            latencies[c] = performance.now() - start;
          }
          const [p50, p99] = quantileInPlace(latencies, calls, [0.5, 0.99]);
          p50s[i]!.push(p50!);
          p99s[i]!.push(p99!);
          dropped[i]! += split.stats().mirror?.dropped ?? 0;
          log(`mirror round ${round + 1}/${rounds} ${variant.name}: p50 ${fmt(p50!, 3)} ms, p99 ${fmt(p99!, 3)} ms`);
        } finally {
          client.close();
          split.close();
        }
      }
    }
  } finally {
    big.stop();
    await backends.stop();
  }
  const ratio = (values: number[], base: number[]): Spread => spread(values.map((v, k) => v / base[k]!));
  const rows = variants.map((variant, i) => {
    const r50 = ratio(p50s[i]!, p50s[0]!);
    const r99 = ratio(p99s[i]!, p99s[0]!);
    return [
      variant.name,
      fmt(spread(p50s[i]!).median, 3),
      fmt(spread(p99s[i]!).median, 3),
      fmt(r50.median, 3),
      fmt(r99.median, 3),
      String(dropped[i]),
    ];
  });
  return {
    title: 'Shadow traffic: primary latency with and without a mirror',
    notes: [
      `Sequential unary calls (C = 1), ${calls} per round after 100 warm-up ` +
        `calls, ${rounds} rounds alternating the variants; medians over rounds.`,
      'Ratios are per round against the plain variant of the same round. The servers ' +
        'run in a child process; on a shared 2-core machine the figures move between runs.',
    ],
    tables: [{ columns: ['variant', 'p50 ms', 'p99 ms', 'p50 / plain', 'p99 / plain', 'copies dropped'], rows }],
    json: {
      calls,
      rounds,
      variants: variants.map((variant, i) => ({
        name: variant.name,
        p50Ms: p50s[i],
        p99Ms: p99s[i],
        dropped: dropped[i],
      })),
    },
  };
}

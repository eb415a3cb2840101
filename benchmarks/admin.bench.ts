/**
 * Does the admin endpoint hold up the gRPC calls that share its event loop? A split mirrors
 * 1,000 calls of 64 KiB answers to a v2 that answers differently (`keepBodies`, every copy a
 * mismatch), each answer decoded as a protobuf runtime would: an int64 as a BigInt, a bytes field
 * as a Buffer (as test/release/admin-stats-samples.test.ts does). Then `GET /stats` is asked for
 * in runs, on an idle machine and beside two busy loops (`node -e 'for(;;){}'`, one per core
 * here), and each run measures the longest event-loop block during the request:
 * `monitorEventLoopDelay({ resolution: 1 })` from the request to the answer's last byte, read by
 * a client in a child process (`admin-client.ts`). The garbage collections seen meanwhile are
 * counted, with the longest pause. The echo servers run in a child process too
 * (`server-process.ts`), so the process measured holds what the split holds and serves the
 * endpoint, nothing else.
 * @module
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { startAdminServer } from '../src/ops/index.js';
import { echoService } from '../test/helpers/echo-service.js';
import { startBackends } from './backends.js';
import type { AdminClientReply } from './admin-client.js';
import { fullGc } from './memory.js';
import { loggerOf, sized, type BenchOptions, type Logger } from './options.js';
import type { BenchCheck, BenchSection } from './report.js';
import { fmt, fmtSpread, spread } from './stats.js';

/** The design target the summary holds the runs to. */
export const ADMIN_STATS_TARGET = 'GET /stats with 1,000 x 64 KiB samples: longest event-loop block <= 50 ms';
const TARGET_MS = 50;
/** Request text: the echo servers' answers (`{"server":..., "text":..., ...}`) stay within the
 * 64 KiB a sample keeps a body of. */
const TEXT_CHARS = 65_000;
const INT64_MAX = 2n ** 63n - 1n;

/** What a protobuf runtime decoding an int64 and a bytes field gives: a BigInt and a Buffer. */
function decode(bytes: Buffer): object {
  const json = JSON.parse(bytes.toString()) as { text: string; server: string };
  const message: Record<string, unknown> = {
    id: INT64_MAX,
    payload: Buffer.from(json.text, 'latin1'),
    server: json.server,
  };
  message['self'] = message;
  return message;
}

const DecodingEchoClient = grpc.makeGenericClientConstructor(
  { echo: { ...echoService.echo, responseDeserialize: decode } },
  'test.Echo',
);

/** One `GET /stats`, as measured. */
export interface StatsRun {
  status: number;
  bytes: number;
  /** From the request to the answer's last byte. */
  elapsedMs: number;
  /** Longest and 99th-percentile event-loop delay meanwhile. */
  maxDelayMs: number;
  p99DelayMs: number;
  gcCount: number;
  longestGcMs: number;
}

/** A split holding `samples` mismatch samples with decoded 64 KiB bodies; its admin endpoint. */
export async function statsScene(samples: number): Promise<{ split: TrafficSplit; close(): Promise<void> }> {
  const backends = await startBackends(['v1', 'v2']);
  const split = new TrafficSplit({
    subsets: { v1: backends.target('v1'), v2: backends.target('v2') },
    weights: { v1: 100, v2: 0 },
  });
  split.setMirror({
    subset: 'v2',
    percent: 100,
    compare: true,
    keepBodies: true,
    maxSamples: samples,
    timeoutMs: 30_000,
    maxBufferedBytes: 512 * 1024 * 1024,
  });
  const client = new DecodingEchoClient(split.target, grpc.credentials.createInsecure(), split.withChannelOptions({}));
  const close = async (): Promise<void> => {
    client.close();
    split.close();
    await backends.stop();
  };
  try {
    const text = 'x'.repeat(TEXT_CHARS);
    const call = () =>
      new Promise<void>((resolve, reject) =>
        (client as unknown as { echo(r: object, cb: (e: Error | null) => void): void }).echo({ text }, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
    for (let sent = 0; sent < samples; sent += 20)
      await Promise.all(Array.from({ length: Math.min(20, samples - sent) }, call));
    for (let waited = 0; ; waited += 50) {
      const mirror = split.stats().mirror!;
      if (mirror.inFlight === 0 && mirror.completed === mirror.sent) break;
      if (waited > 30_000) throw new Error(`copies still in flight after 30 s: ${JSON.stringify(mirror)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const kept = split.stats().mirror!.samples.filter((s) => s.primary.response !== undefined).length;
    if (kept !== samples) throw new Error(`${kept} samples kept their bodies, not ${samples}`);
    return { split, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The client of `admin-client.ts`, in a child process: `get(url)` reads an answer to its end. */
export function startAdminClient(): { get(url: string): Promise<{ status: number; bytes: number }>; stop(): void } {
  const child = fork(fileURLToPath(new URL('./admin-client.js', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    process.off('exit', stop);
  };
  process.once('exit', stop);
  const get = async (url: string): Promise<{ status: number; bytes: number }> => {
    const reply = once(child, 'message') as Promise<[AdminClientReply]>;
    child.send({ url });
    const [answer] = await reply;
    if ('error' in answer) throw new Error(`admin client: ${answer.error}`);
    return answer;
  };
  return { get, stop };
}

/** `get(url)` (the answer read to its end, by a client that only counts bytes), with the delay
 * monitor on meanwhile. */
export async function measureStats(
  url: string,
  get: (url: string) => Promise<{ status: number; bytes: number }>,
): Promise<StatsRun> {
  const gcs: { duration: number }[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  // The monitor records nothing for its first tick: let it tick before the request.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const started = performance.now();
  const { status, bytes } = await get(url);
  const elapsedMs = performance.now() - started;
  delay.disable();
  // GC entries are delivered a turn later.
  await new Promise((resolve) => setImmediate(resolve));
  observer.disconnect();
  return {
    status,
    bytes,
    elapsedMs,
    maxDelayMs: delay.max / 1e6,
    p99DelayMs: delay.percentile(99) / 1e6,
    gcCount: gcs.length,
    longestGcMs: Math.max(0, ...gcs.map((entry) => entry.duration)),
  };
}

/** `count` processes spinning a core each; `stop()` kills them by pid. */
export function busyLoops(count: number): { stop(): void } {
  const children: ChildProcess[] = Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }),
  );
  const stop = (): void => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    process.off('exit', stop);
  };
  process.once('exit', stop);
  return { stop };
}

async function runsOf(
  url: string,
  get: (url: string) => Promise<{ status: number; bytes: number }>,
  runs: number,
  label: string,
  log: Logger,
): Promise<StatsRun[]> {
  const results: StatsRun[] = [];
  for (let r = 0; r < runs; r++) {
    const run = await measureStats(url, get);
    results.push(run);
    log(
      `admin ${label} ${r + 1}/${runs}: ${run.status}, ${run.bytes} bytes in ${fmt(run.elapsedMs, 0)} ms; ` +
        `delay max ${fmt(run.maxDelayMs, 1)} ms, p99 ${fmt(run.p99DelayMs, 1)} ms; ` +
        `${run.gcCount} GC, longest ${fmt(run.longestGcMs, 1)} ms`,
    );
  }
  return results;
}

/** Runs the bench; see the module comment. */
export async function runAdminBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const samples = sized(opts, { full: 1000, quick: 1000, tiny: 50 });
  const runs = sized(opts, { full: 15, quick: 6, tiny: 1 });
  const busy = sized(opts, { full: 2, quick: 2, tiny: 0 });
  const scene = await statsScene(samples);
  const server = await startAdminServer(scene.split, { port: 0 });
  const client = startAdminClient();
  const url = `${server.url}/stats`;
  const conditions: { label: string; runs: StatsRun[] }[] = [];
  try {
    // The calls left garbage behind: collect it, so that the runs measure the requests' own.
    fullGc();
    const first = await runsOf(url, client.get, 1, 'first request', log);
    conditions.push({ label: 'first request (cold code)', runs: first });
    conditions.push({ label: 'idle', runs: await runsOf(url, client.get, runs, 'idle', log) });
    if (busy > 0) {
      const loops = busyLoops(busy);
      try {
        conditions.push({
          label: `beside ${busy} busy loops`,
          runs: await runsOf(url, client.get, runs, 'busy', log),
        });
      } finally {
        loops.stop();
      }
    }
  } finally {
    client.stop();
    await server.close();
    await scene.close();
  }
  const rows = conditions.map(({ label, runs: measured }) => [
    label,
    String(measured.length),
    [...new Set(measured.map((run) => run.status))].join(', '),
    fmt(spread(measured.map((run) => run.bytes)).median, 0),
    fmtSpread(spread(measured.map((run) => run.elapsedMs)), 0),
    fmtSpread(spread(measured.map((run) => run.maxDelayMs)), 1),
    fmtSpread(spread(measured.map((run) => run.p99DelayMs)), 1),
    fmtSpread(spread(measured.map((run) => run.longestGcMs)), 1),
    fmt(measured.reduce((sum, run) => sum + run.gcCount, 0) / measured.length, 1),
  ]);
  const checks: BenchCheck[] = conditions.map(({ label, runs: measured }) => {
    const longest = Math.max(...measured.map((run) => run.maxDelayMs));
    return {
      group: ADMIN_STATS_TARGET,
      target: `${ADMIN_STATS_TARGET} (${label})`,
      label,
      measured: `${fmt(longest, 1)} ms`,
      ok: longest <= TARGET_MS && measured.every((run) => run.status === 200),
    };
  });
  return {
    title: 'Admin endpoint: GET /stats with 1,000 samples of 64 KiB bodies',
    notes: [
      `${samples} mismatch samples with \`keepBodies\`, each body 64 KiB decoded into a BigInt, a Buffer and a ` +
        'cycle; the echo servers and the client reading the answers in child processes.',
      `${runs} requests per condition, one after the other, after a full GC; each figure is a median over ` +
        'requests (min–max). The longest event-loop block is the delay monitor’s maximum, 1 ms resolution.',
      busy > 0
        ? `"beside ${busy} busy loops": ${busy} processes spinning \`for(;;){}\` during those requests.`
        : 'No busy loops at this size.',
    ],
    tables: [
      {
        columns: [
          'condition',
          'requests',
          'status',
          'bytes',
          'answered in ms',
          'longest block ms',
          'p99 delay ms',
          'longest GC pause ms',
          'GCs per request',
        ],
        rows,
      },
    ],
    checks,
    json: { samples, conditions },
  };
}

/**
 * What the scale bench measures, one function per scenario: time from channel creation to the
 * first reply, heap and RSS growth after a full GC, and the latency of calls once settled.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { TrafficSplit } from '../src/index.js';
import type { EchoClientInstance } from '../test/helpers/echo-service.js';
import type { Backends } from './backends.js';
import { namedCaller, roundRobinClient, roundRobinTargetClient, splitClient, waitForReady } from './clients.js';
import { recordSequence } from './load.js';
import { settledMemory } from './memory.js';
import { quantileInPlace } from './stats.js';

/**
 * Refused endpoints are not retried for a minute, so a measurement sees one connect attempt per
 * endpoint rather than a reconnect storm every second (grpc-js's default backoff starts at 1 s).
 */
export const NO_QUICK_RECONNECT = {
  'grpc.initial_reconnect_backoff_ms': 60_000,
  'grpc.max_reconnect_backoff_ms': 60_000,
};
/** Bound on startup: a scenario that has no first reply by then fails loudly. */
const FIRST_CALL_TIMEOUT_MS = 60_000;
/** After the first reply, time for the remaining connect attempts to finish before measuring. */
export const SETTLE_MS = 500;
/** After closing, time for grpc-js's asynchronous teardown, so the next baseline is clean. */
const TEARDOWN_MS = 200;

/** A channel under test and how to release everything it needs. */
export interface Built {
  client: EchoClientInstance;
  close(): void;
}

export interface StartupResult {
  /** Channel creation to the first reply. */
  startupMs: number;
  heapBytes: number;
  rssBytes: number;
  /** Median of sequential calls after settling. */
  p50Ms: number;
}

/** Builds a channel with `build`, calls it until answered, settles, then measures. */
export async function measureStartup(build: () => Built, calls: number): Promise<StartupResult> {
  const before = settledMemory();
  const start = performance.now();
  const built = build();
  try {
    await namedCaller(built.client, FIRST_CALL_TIMEOUT_MS)(0);
    const startupMs = performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const seq = await recordSequence(calls, [], namedCaller(built.client), 30_000);
    if (seq.errors > 0) throw new Error(`scale: ${seq.errors} call(s) failed after startup: ${seq.firstError}`);
    const [p50Ms] = quantileInPlace(Float64Array.from(seq.durationMs), seq.length, [0.5]) as [number];
    const after = settledMemory();
    return { startupMs, heapBytes: after.heapUsed - before.heapUsed, rssBytes: after.rss - before.rss, p50Ms };
  } finally {
    built.close();
    await new Promise((resolve) => setTimeout(resolve, TEARDOWN_MS));
  }
}

/** A split whose one subset resolves to `target` (the fan-out list). */
export function splitOver(target: string): Built {
  const split = new TrafficSplit({ name: 'scale', subsets: { v1: target }, weights: { v1: 1 } });
  const client = splitClient(split, NO_QUICK_RECONNECT);
  return { client, close: () => (client.close(), split.close()) };
}

/** A plain `round_robin` channel over what `target` resolves to. */
export function roundRobinOver(target: string): Built {
  const client = roundRobinTargetClient(target, NO_QUICK_RECONNECT);
  return { client, close: () => client.close() };
}

/** A split of `count` subsets with equal weights, alternating between the two servers. */
export function splitOfSubsets(backends: Backends, count: number): Built {
  const subsets: Record<string, string> = {};
  const weights: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    subsets[`s${i}`] = backends.target(i % 2 === 0 ? 'v1' : 'v2');
    weights[`s${i}`] = 1;
  }
  const split = new TrafficSplit({ name: 'scale-subsets', subsets, weights });
  const client = splitClient(split);
  return { client, close: () => (client.close(), split.close()) };
}

/** Heap bytes per `TrafficSplit` with no channel: `count` are created, measured, closed. */
export function bytesPerSplit(backends: Backends, count: number): number {
  const before = settledMemory().heapUsed;
  const splits: TrafficSplit[] = [];
  for (let i = 0; i < count; i++) {
    splits.push(
      new TrafficSplit({
        name: 'mem',
        subsets: { v1: backends.target('v1'), v2: backends.target('v2') },
        weights: { v1: 90, v2: 10 },
      }),
    );
  }
  const after = settledMemory().heapUsed;
  for (const split of splits) split.close();
  return (after - before) / count;
}

/**
 * Heap bytes per READY channel, each with its own two connections: `count` channels from one
 * split (`kind` 'split') or plain `round_robin` channels ('plain'), each called once.
 */
export async function bytesPerChannel(backends: Backends, count: number, kind: 'split' | 'plain'): Promise<number> {
  const split = new TrafficSplit({
    name: 'mem-channels',
    subsets: { v1: backends.target('v1'), v2: backends.target('v2') },
    weights: { v1: 90, v2: 10 },
  });
  const ports = [backends.ports['v1']!, backends.ports['v2']!];
  // The split itself exists in both cases, so only the channels differ.
  const before = settledMemory().heapUsed;
  const clients: EchoClientInstance[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const client = kind === 'split' ? splitClient(split) : roundRobinClient(ports);
      clients.push(client);
      await waitForReady(client);
      await namedCaller(client)(0);
    }
    return (settledMemory().heapUsed - before) / count;
  } finally {
    for (const client of clients) client.close();
    split.close();
  }
}

/**
 * What each feature costs a call end to end, off (configured, unused by the call) and on: client
 * CPU per call through one client channel to two echo servers (in a child process), against
 * the same split without the feature, in rounds that alternate every variant; plus the split
 * against a plain round_robin channel and against nginx `grpc_pass` (its own CPU added to its
 * client's), and the primary's p99 at C = 1 with a 10% mirror against none.
 * @module
 */
import { startBackends, type Backends } from './backends.js';
import { plainClient, waitForReady, waitForSubsets, warmUp } from './clients.js';
import { FEATURE_VARIANTS, variantCaller, type BuiltVariant, type FeatureVariant } from './feature-variants.js';
import { closedLoop, type LoadOptions } from './load.js';
import { nginxFor, NginxProxy } from './nginx.js';
import { loggerOf, sized, type BenchOptions } from './options.js';
import { processTreeCpu } from './proc-cpu.js';
import { featureChecks, featureTable, type FeatureRuns, type PrimaryP99 } from './features-report.js';
import type { BenchSection } from './report.js';
import { fmt } from './stats.js';

interface Running {
  variant: FeatureVariant;
  built: BuiltVariant;
  /** CPU of a proxy process the variant's calls go through (nginx), in µs. */
  proxyCpu: (() => number) | null;
}

/** Runs the bench; see the module comment. */
export async function runFeaturesBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const rounds = sized(opts, { full: 21, quick: 15, tiny: 1 });
  const load = sized<Omit<LoadOptions, 'onWindow'>>(opts, {
    full: { concurrency: 16, warmupMs: 200, durationMs: 800, maxCalls: 200_000 },
    quick: { concurrency: 16, warmupMs: 100, durationMs: 300, maxCalls: 100_000 },
    tiny: { concurrency: 2, warmupMs: 20, durationMs: 100, maxCalls: 200 },
  });
  const p99Calls = sized(opts, { full: 1000, quick: 400, tiny: 20 });
  const { bin: nginxBin, absent } = nginxFor(opts.nginx);
  const backends = await startBackends(['v1', 'v2']);
  const running: Running[] = [];
  const closers: (() => unknown)[] = [];
  try {
    for (const variant of FEATURE_VARIANTS) running.push(await start(variant, backends, closers));
    if (nginxBin !== null) running.push(await startNginx(nginxBin, backends, closers));
    const runs: FeatureRuns = Object.fromEntries(running.map((r) => [r.variant.key, []]));
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < running.length; k++) {
        const { variant, built, proxyCpu } = running[(r + k) % running.length]!;
        let proxyStart = 0;
        let proxyUs = NaN;
        const onWindow =
          proxyCpu === null
            ? undefined
            : (edge: 'start' | 'end') =>
                edge === 'start' ? (proxyStart = proxyCpu()) : (proxyUs = proxyCpu() - proxyStart);
        const result = await closedLoop(variantCaller(built.client, variant, built.copy), { ...load, onWindow });
        if (result.errors > 0)
          log(`features: ${variant.label}: ${result.errors} failed call(s): ${result.firstError}`);
        runs[variant.key]!.push({ ...result, proxyCpuUsPerCall: proxyUs / result.calls });
      }
      log(`features: round ${r + 1}/${rounds}`);
    }
    const p99 = await primaryP99(running, rounds, p99Calls);
    log(
      `features: p99 at C=1 done (${p99.base.length} rounds, ` +
        `last: ${fmt(p99.base.at(-1)!, 3)} / ${fmt(p99.mirror10.at(-1)!, 3)} ms)`,
    );
    const withNginx = nginxBin !== null;
    const notes = [
      `Client CPU (user + system) of this process per completed call, closed loop with C ` +
        `= ${load.concurrency}, ${load.durationMs} ms measured after ${load.warmupMs} ms per variant per ` +
        `round, ${rounds} round(s) alternating every variant (rotated); median (min–max) of per-round ratios ` +
        `against the baseline of the same round.`,
      "Every split has subsets v1 90, v2 10 and shadow 0 (on v2's server): mirror copies go to shadow. " +
        '"off": the feature is configured and the calls do not use it; "on": every call uses it. ' +
        'Calls "with the headers" carry x-user-id (1,000 users) and x-canary: yes, which the rule matches.',
      'Stream tracking: server-streaming calls of one message, the split against round_robin, divided ' +
        'by the same ratio for unary calls (what streams cost beyond what the split costs any call).',
      withNginx
        ? 'nginx: one worker, grpc_pass to v1:9 v2:1 with upstream keepalive; its CPU ' +
          "(master and worker, from /proc, 10 ms ticks) per call is added to its client's."
        : absent,
      `Primary p99 with a 10% mirror: ${p99Calls} sequential calls (C = 1) per round, ${p99.base.length} ` +
        `rounds rotating it with the split without mirror and with the hand-made copy (the caller sends ` +
        `every 10th call to shadow on a plain channel too); median of per-round ratios.`,
    ];
    if (opts.tiny === true) notes.push('Tiny run (smoke test): figures are not meaningful.');
    return {
      title: 'Features: client CPU per call, off and on; against round_robin and nginx',
      notes,
      tables: [
        featureTable(
          runs,
          running.map((r) => r.variant),
        ),
      ],
      checks: featureChecks(runs, p99, withNginx),
      json: { load, rounds, p99Calls, runs, p99 },
    };
  } finally {
    for (const close of closers.reverse()) await close();
    await backends.stop();
  }
}

async function start(variant: FeatureVariant, backends: Backends, closers: (() => unknown)[]): Promise<Running> {
  const built = await variant.build(backends);
  closers.push(() => built.close());
  await waitForReady(built.client);
  if (built.split !== undefined) await waitForSubsets(built.split);
  await warmUp(built.client, 20);
  return { variant, built, proxyCpu: null };
}

async function startNginx(bin: string, backends: Backends, closers: (() => unknown)[]): Promise<Running> {
  const proxy = await NginxProxy.start(bin, [
    { port: backends.ports['v1']!, weight: 9 },
    { port: backends.ports['v2']!, weight: 1 },
  ]);
  closers.push(() => proxy.stop());
  const client = plainClient(proxy.target);
  closers.push(() => client.close());
  await waitForReady(client);
  await warmUp(client, 20);
  const variant: FeatureVariant = {
    key: 'nginx',
    label: 'nginx grpc_pass 9:1 (client + nginx CPU)',
    baseline: null,
    build: async () => ({ client, close() {} }),
    headers: 'none',
    stream: false,
  };
  return {
    variant,
    built: { client, close() {} },
    proxyCpu: proxy.pid === undefined ? null : processTreeCpu(proxy.pid),
  };
}

/** p99 of sequential calls through the plain split, the one with a 10% mirror, and the plain
 * split with a hand-made 10% copy, in rotating order. */
async function primaryP99(running: Running[], rounds: number, calls: number): Promise<PrimaryP99> {
  const out: PrimaryP99 = { base: [], mirror10: [], handCopy10: [] };
  const keys = ['base', 'mirror10', 'handCopy10'] as const;
  const trio = keys.map((key) => running.find((r) => r.variant.key === key)!);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < trio.length; k++) {
      const { variant, built } = trio[(r + k) % trio.length]!;
      const result = await closedLoop(variantCaller(built.client, variant, built.copy), {
        concurrency: 1,
        warmupMs: 20,
        durationMs: 60_000,
        maxCalls: calls,
      });
      out[variant.key as (typeof keys)[number]].push(result.p99Ms);
    }
  }
  return out;
}

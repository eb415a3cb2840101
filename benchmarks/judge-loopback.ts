/**
 * Identical versions on loopback, unary calls at concurrency C through a 50/50 split, each
 * answered call fed to the sequential judge in the order the split's feed tells it: which subset
 * is slower, as the feed and as the application time it, and what the judge concludes with
 * either subset as the canary. Servers run in the benchmark's own process (`--servers same`, as
 * the tests run them) or each in a child process of its own (`--servers children`).
 *
 *   node dist/benchmarks/judge-loopback.js [--servers same|children] [--order v1v2|v2v1]
 *     [--concurrency 8] [--calls 20000]
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { TrafficSplit } from '../src/index.js';
import { BASELINE, CANARY, LatencyBlocks } from '../src/algorithms/judge/blocks.js';
import { requestMetrics, SequentialJudge } from '../src/algorithms/judge/sequential-judge.js';
import { startChildServer, type ChildServer } from '../test/helpers/child-server.js';
import { startServer, type TestServer } from '../test/helpers/servers.js';
import { callShop, shopClient } from '../test/helpers/shop-service.js';
import { connect, waitForSubsetsReady } from '../test/helpers/split-helpers.js';

/** One answered call: which subset (1: v2), its latency by the feed and by the application. */
interface Answer {
  v2: boolean;
  feedMs: number;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const round = (x: number): number => Math.round(x * 1000) / 1000;

/** The judge's latency test, and the mean of its blocks, with `canaryIsV2` choosing the canary. */
function judged(answers: readonly Answer[], canaryIsV2: boolean): { blockMean: number; verdict: string } {
  const judge = new SequentialJudge({
    metrics: requestMetrics({ maxErrorRateIncrease: 0.005, maxLatencyRatio: 1.2 }),
    names: canaryIsV2 ? ['v2', 'v1'] : ['v1', 'v2'],
  });
  const blocks = new LatencyBlocks(1.2);
  let sum = 0;
  let count = 0;
  let verdict = '';
  for (const answer of answers) {
    const side = answer.v2 === canaryIsV2 ? CANARY : BASELINE;
    judge.observe(0, '', side, 0);
    judge.observe(1, '', side, answer.feedMs);
    const y = blocks.observe(side, answer.feedMs);
    if (!Number.isNaN(y)) {
      sum += y;
      count++;
    }
    if (verdict === '' && judge.decision() !== 'continue') verdict = judge.verdict().reason;
  }
  return { blockMean: round(sum / count), verdict: verdict || 'no decision' };
}

/** P(a > 1.2 b) over every pair of a sample of each (independent pairs). */
function slowerShare(a: readonly number[], b: readonly number[]): number {
  const sortedB = [...b].sort((x, y) => x - y);
  let below = 0;
  for (const x of a) {
    // Count b with 1.2 b < x by binary search.
    let lo = 0;
    let hi = sortedB.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (1.2 * sortedB[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    below += lo;
  }
  return round(below / (a.length * b.length));
}

async function main(argv: string[]): Promise<void> {
  const flag = (name: string, fallback: string): string => {
    const index = argv.indexOf(name);
    return index >= 0 ? argv[index + 1]! : fallback;
  };
  const servers = flag('--servers', 'same');
  const order = flag('--order', 'v1v2');
  const concurrency = Number(flag('--concurrency', '8'));
  const calls = Number(flag('--calls', '20000'));
  const start = (name: string): Promise<TestServer | ChildServer> =>
    servers === 'children' ? startChildServer(name) : startServer(name);
  const v1 = await start('v1');
  const v2 = await start('v2');
  const subsets = order === 'v1v2' ? { v1: v1.target, v2: v2.target } : { v2: v2.target, v1: v1.target };
  const split = new TrafficSplit({ subsets, weights: { v1: 1, v2: 1 } });
  const client = shopClient(split.target, split.channelOptions);
  connect(client);
  await waitForSubsetsReady(split);
  const answers: Answer[] = [];
  const stop = split.onCallEnded((call) => answers.push({ v2: call.subset === 'v2', feedMs: call.latencyMs! }));
  const appMs: [number[], number[]] = [[], []];
  let made = 0;
  const worker = async (): Promise<void> => {
    while (made++ < calls) {
      const started = performance.now();
      const reply = await callShop(client, 'read');
      appMs[reply.server === 'v2' ? 1 : 0].push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  stop();
  const feed = (v2: boolean): number[] => answers.filter((a) => a.v2 === v2).map((a) => a.feedMs);
  console.log(
    JSON.stringify(
      {
        command: `node dist/benchmarks/judge-loopback.js --servers ${servers} --order ${order} --concurrency ${concurrency} --calls ${calls}`,
        medianMs: {
          feed: { v1: round(median(feed(false))), v2: round(median(feed(true))) },
          application: { v1: round(median(appMs[0])), v2: round(median(appMs[1])) },
        },
        independentPairs: {
          v2SlowerThan1_2xV1: slowerShare(feed(true), feed(false)),
          v1SlowerThan1_2xV2: slowerShare(feed(false), feed(true)),
        },
        canaryV2: judged(answers, true),
        canaryV1: judged(answers, false),
      },
      null,
      2,
    ),
  );
  client.close();
  split.close();
  await Promise.all([v1.kill(), v2.kill()]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));

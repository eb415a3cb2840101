/**
 * The scripted demo: 20 price subscriptions held open through a split at 90/10, then a live
 * change to 10/90 with `rebalanceStreams`, and the subscriptions following it.
 */
import { TrafficSplit } from 'grpc-traffic-split';
import { follow, type Subscription } from './follow.js';
import { pricesClient, startPrices } from './prices.js';

export interface StreamsDemoReport {
  /** Open subscriptions per version, as the servers count them. */
  before: Record<string, number>;
  after: Record<string, number>;
  /** The details of every stream the split ended. */
  rebalanced: string[];
  /** Subscriptions that ended for good (none expected). */
  failures: string[];
  /** Subscriptions whose sequence went backwards across a re-open (none expected). */
  gaps: number;
  stats: Record<string, { openStreams: number; rebalanced: number }>;
}

export interface StreamsDemoOptions {
  log?: (line: string) => void;
  subscriptions?: number;
  withinMs?: number;
}

/** Polls until `condition` holds, for at most `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function runStreamsDemo(options: StreamsDemoOptions = {}): Promise<StreamsDemoReport> {
  const log = options.log ?? console.log;
  const count = options.subscriptions ?? 20;
  const withinMs = options.withinMs ?? 1000;
  const v1 = await startPrices('v1');
  const v2 = await startPrices('v2');
  const split = new TrafficSplit({
    name: 'prices',
    subsets: { v1: v1.target, v2: v2.target },
    weights: { v1: 90, v2: 10 },
    // After a weight change, move just enough open streams, spread over this window.
    rebalanceStreams: { withinMs },
  });
  // channelOptions installs the split's interceptor: it is what tells the split a call is a stream.
  const client = pricesClient(split.target, split.channelOptions);
  const subscriptions: Subscription[] = [];
  const servers = () => ({ v1: v1.open(), v2: v2.open() });
  let gaps = 0;
  try {
    for (let i = 0; i < count; i++) {
      const seen = { last: 0 };
      subscriptions.push(
        follow(client, `SYM${i}`, (quote) => {
          if (quote.sequence <= seen.last) gaps++;
          seen.last = quote.sequence;
        }),
      );
    }
    const allOn = (v1Count: number, v2Count: number) => () => {
      const s = servers();
      return s.v1 === v1Count && s.v2 === v2Count && subscriptions.every((sub) => sub.version !== null);
    };
    const share = (w: number) => Math.round((count * w) / 100);
    await until(allOn(share(90), share(10)), 10_000);
    const before = servers();
    log(`${count} subscriptions open at 90/10: v1 ${before.v1}, v2 ${before.v2}`);
    // Streams opened before both subsets were READY went to the first one; the split moved the
    // extra ones when the other came up. Count only the moves of the change from here on.
    const movedAtStart = subscriptions.map((s) => s.reopened.length);
    const mark = split.mark();
    log('setWeights({ v1: 10, v2: 90 }) with rebalanceStreams: { withinMs: ' + withinMs + ' }');
    split.setWeights({ v1: 10, v2: 90 });
    await until(allOn(share(10), share(90)), 10_000 + 2 * withinMs);
    const after = servers();
    const rebalanced = subscriptions.flatMap((s, i) => s.reopened.slice(movedAtStart[i]));
    log(
      `after the change: v1 ${after.v1}, v2 ${after.v2}; ${rebalanced.length} ` +
        `streams moved, each re-opened by the client`,
    );
    if (rebalanced[0] !== undefined) log(`  e.g. UNAVAILABLE "${rebalanced[0]}"`);
    const stats = split.stats({ since: mark }).subsets;
    const figures = Object.fromEntries(
      Object.entries(stats).map(([name, s]) => [name, { openStreams: s.openStreams, rebalanced: s.rebalanced }]),
    );
    log(`split.stats(): ${JSON.stringify(figures)}`);
    return {
      before,
      after,
      rebalanced,
      failures: subscriptions.flatMap((s) => (s.failure === null ? [] : [s.failure])),
      gaps,
      stats: figures,
    };
  } finally {
    for (const s of subscriptions) s.stop();
    client.close();
    split.close();
    v1.stop();
    v2.stop();
  }
}

/**
 * The shadow-traffic demo: all real traffic on v1, a fifth of it copied to v2, each copy's answer
 * compared with v1's while ignoring the `quotedAt` stamp; then the mismatch report.
 */
import { TrafficSplit, type MirrorStats } from 'grpc-traffic-split';
import { pricingClient, startPricing, UNIT_PRICE_CENTS, type Quote } from './pricing.js';

export interface ShadowDemoReport {
  /** Answers the callers got, by version: all from v1. */
  answeredBy: Record<string, number>;
  mirror: MirrorStats;
}

/** Runs `calls` quotes (quantities 1 to 15, in turn) and returns what the mirror saw. */
export async function runShadowDemo({
  calls = 300,
  log = console.log,
}: { calls?: number; log?: (line: string) => void } = {}): Promise<ShadowDemoReport> {
  const v1 = await startPricing('v1');
  const v2 = await startPricing('v2');
  const split = new TrafficSplit({
    name: 'pricing',
    subsets: { v1: v1.target, v2: v2.target },
    weights: { v1: 100, v2: 0 },
  });
  const client = pricingClient(split.target, split.channelOptions);
  try {
    split.setMirror({
      subset: 'v2',
      percent: 20,
      keepBodies: true,
      // Everything but the time stamp must agree.
      compare: (primary, mirror) => {
        if (primary.status !== mirror.status) return `status ${primary.status} vs ${mirror.status}`;
        const [a, b] = [primary.response as Quote | null, mirror.response as Quote | null];
        return a?.totalCents === b?.totalCents || `totalCents ${a?.totalCents} vs ${b?.totalCents}`;
      },
    });
    log(`${calls} quotes through the split, weights ${JSON.stringify(split.getWeights())}, 20% copied to v2`);
    const answeredBy: Record<string, number> = {};
    for (let i = 0; i < calls; i++) {
      const quote = await client.quote({ sku: ['apple', 'pear', 'plum'][i % 3]!, quantity: (i % 15) + 1 });
      // v1 never discounts: any other total would mean v2 answered a real caller.
      const version = quote.totalCents === UNIT_PRICE_CENTS[quote.sku]! * quote.quantity ? 'v1' : 'v2';
      answeredBy[version] = (answeredBy[version] ?? 0) + 1;
    }
    // Copies run beside the calls: wait (bounded) until each one is accounted for.
    const deadline = Date.now() + 10_000;
    while (
      Date.now() < deadline &&
      (split.stats().mirror!.inFlight > 0 || split.stats().mirror!.completed < split.stats().mirror!.sent)
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const mirror = split.stats().mirror!;
    log(`callers' answers: ${JSON.stringify(answeredBy)}`);
    log(
      `copies: ${mirror.sent} sent, ${mirror.matched} matched, ${mirror.mismatched} ` +
        `mismatched, ${mirror.failed} failed, ${mirror.dropped} dropped`,
    );
    log(`latency p50: copies ${mirror.latencyMs.p50} ms, their primaries ${mirror.primaryLatencyMs.p50} ms`);
    log(`last mismatches (of ${mirror.samples.length} kept):`);
    for (const sample of mirror.samples.slice(-3)) {
      const quote = sample.primary.response as Quote;
      log(
        `  ${sample.method} ${quote.quantity} x ${quote.sku}: ${sample.reason} ` +
          `(sha256 ${sample.primary.sha256!.slice(0, 12)} vs ${sample.mirror.sha256!.slice(0, 12)})`,
      );
    }
    return { answeredBy, mirror };
  } finally {
    client.close();
    split.close();
    v1.stop();
    v2.stop();
  }
}

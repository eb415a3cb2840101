/** Two real servers (v1, v2, serving shop.Store), a split over them and one shop client built
 * with the split's options, cleaned up after the test; resolves once both subsets are READY. */
import type { TestContext } from 'node:test';
import { TrafficSplit, type TrafficSplitOptions } from '../../src/index.js';
import { startServer } from './servers.js';
import { shopClient, type ShopClientInstance } from './shop-service.js';
import { connect, waitForSubsetsReady } from './split-helpers.js';

export async function shopRig(
  t: TestContext,
  weights: Record<string, number>,
  extra: Partial<TrafficSplitOptions> = {},
): Promise<{ split: TrafficSplit; client: ShopClientInstance }> {
  const v1 = await startServer('v1');
  const v2 = await startServer('v2');
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights, ...extra });
  const client = shopClient(split.target, split.channelOptions);
  t.after(async () => {
    client.close();
    split.close();
    await Promise.all([v1.kill(), v2.kill()]);
  });
  connect(client);
  await waitForSubsetsReady(split);
  return { split, client };
}

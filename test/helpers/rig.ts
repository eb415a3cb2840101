/** Two real servers (v1, v2), a split over them and one client channel, cleaned up after the test. */
import type { TestContext } from 'node:test';
import type { ClientOptions } from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../../src/index.js';
import { echoClient, type EchoClientInstance } from './echo-service.js';
import { startServer, type TestServer } from './servers.js';
import { connect, waitForSubsetsReady } from './split-helpers.js';

export interface Rig {
  v1: TestServer;
  v2: TestServer;
  split: TrafficSplit;
  client: EchoClientInstance;
}

/** Resolves once both subsets are READY in the client's channel. `clientOptions` builds the
 * client's options from the split (default: `split.channelOptions`). */
export async function rig(
  t: TestContext,
  weights: Record<string, number>,
  extra: Partial<TrafficSplitOptions> = {},
  clientOptions: (split: TrafficSplit) => ClientOptions = (split) => split.channelOptions,
): Promise<Rig> {
  const v1 = await startServer('v1');
  const v2 = await startServer('v2');
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights, ...extra });
  const client = echoClient(split.target, clientOptions(split));
  t.after(async () => {
    client.close();
    split.close();
    await Promise.all([v1.kill(), v2.kill()]);
  });
  connect(client);
  await waitForSubsetsReady(split);
  return { v1, v2, split, client };
}

/**
 * The whole example wired together, on loopback with ephemeral ports: reporter v1 and v2, a
 * split over them (sticky by `x-user-id`), the gateway in front, and the split's admin endpoint.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from 'grpc-traffic-split';
import { startAdminServer, type AdminServer } from 'grpc-traffic-split/ops';
import { startGateway, type Gateway } from './gateway.js';
import { reporterClient, startReporter, type ReporterServer } from './reporter.js';

export interface GatewayApp {
  split: TrafficSplit;
  gateway: Gateway;
  admin: AdminServer;
  /** The admin endpoint's bearer token. */
  token: string;
  v1: ReporterServer;
  v2: ReporterServer;
  /** Stops everything, gateway first. */
  close(): Promise<void>;
}

export interface GatewayAppOptions {
  /** v2 answers every call with INTERNAL (to watch a rollback). @default false */
  brokenV2?: boolean;
  /** @default a random token */
  token?: string;
}

export async function startGatewayApp({
  brokenV2 = false,
  token = randomBytes(24).toString('base64url'),
}: GatewayAppOptions = {}): Promise<GatewayApp> {
  const v1 = await startReporter('v1');
  const v2 = await startReporter('v2', brokenV2 ? { failWith: grpc.status.INTERNAL } : {});
  const split = new TrafficSplit({
    name: 'reporter',
    subsets: { v1: `ipv4:127.0.0.1:${v1.port}`, v2: `ipv4:127.0.0.1:${v2.port}` },
    // v2 is deployed but gets nothing yet; its connection is open all the same.
    weights: { v1: 100, v2: 0 },
    stickyKey: 'x-user-id',
  });
  const client = reporterClient(split.target, split.channelOptions);
  const gateway = await startGateway(client);
  const admin = await startAdminServer(split, { port: 0, token });
  // Connect now rather than at the first request, and wait until both versions are READY:
  // a rollout should not start judging v2 while its connection is still being set up.
  client.getChannel().getConnectivityState(true);
  await bothReady(split);
  return {
    split,
    gateway,
    admin,
    token,
    v1,
    v2,
    close: async () => {
      await gateway.close();
      await admin.close();
      client.close();
      split.close();
      await Promise.all([v1.stop(), v2.stop()]);
    },
  };
}

async function bothReady(split: TrafficSplit, timeoutMs = 5_000): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  while (!Object.values(split.stats().subsets).every((subset) => subset.state === 'READY')) {
    await once(split, 'subsetState', { signal });
  }
}

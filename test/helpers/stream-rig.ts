/**
 * Two feed servers (v1, v2), a split over them and one client channel, plus a subscriber that
 * re-opens every stream the split ends (UNAVAILABLE), as an application should. Cleaned up after
 * the test.
 */
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../../src/index.js';
import { connect, eventually, waitForSubsetsReady, closeAfter } from './split-helpers.js';
import {
  feedClient,
  startFeedServer,
  subscribe,
  type FeedClientInstance,
  type FeedServer,
  type Subscription,
} from './stream-service.js';

export interface StreamRig {
  v1: FeedServer;
  v2: FeedServer;
  split: TrafficSplit;
  client: FeedClientInstance;
}

/** Resolves once both subsets are READY in the client's channel. */
export async function streamRig(
  t: TestContext,
  weights: Record<string, number>,
  extra: Partial<TrafficSplitOptions> = {},
  withInterceptor = true,
): Promise<StreamRig> {
  const v1 = await startFeedServer('v1');
  const v2 = await startFeedServer('v2');
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights, ...extra });
  const client = feedClient(split.target, withInterceptor ? split.channelOptions : {});
  closeAfter(t, client, split, v1, v2);
  connect(client);
  await waitForSubsetsReady(split);
  return { v1, v2, split, client };
}

/** Open streams per server, as the servers count them. */
export function serverCounts(rig: StreamRig): { v1: number; v2: number } {
  return { v1: rig.v1.openIds().length, v2: rig.v2.openIds().length };
}

/** Open streams per subset, as the split counts them. */
export function splitCounts(split: TrafficSplit): { v1: number; v2: number } {
  const { subsets } = split.stats();
  return { v1: subsets['v1']!.openStreams, v2: subsets['v2']!.openStreams };
}

/** A stream the split ended, as the subscriber saw it. */
export interface SeenEnd {
  readonly id: string;
  readonly server: string | null;
  readonly code: grpc.status;
  readonly details: string;
  /** `now()` when the subscriber saw it. */
  readonly at: number;
}

/**
 * Keeps `count` subscriptions open: each one the split ends with UNAVAILABLE is re-opened under a
 * new id (`s3`, `s3.1`, `s3.2`, ...). Any other end is a test failure, kept in `unexpected`.
 */
export class Resubscriber {
  readonly live = new Map<string, Subscription>();
  readonly ends: SeenEnd[] = [];
  readonly unexpected: string[] = [];
  private stopped = false;

  constructor(
    private readonly client: FeedClientInstance,
    private readonly now: () => number,
    private readonly options: () => grpc.CallOptions = () => ({}),
    private readonly metadata: (name: string) => grpc.Metadata = () => new grpc.Metadata(),
  ) {}

  open(name: string, generation = 0): void {
    const id = generation === 0 ? name : `${name}.${generation}`;
    const subscription = subscribe(
      this.client,
      id,
      this.options(),
      (s) => {
        if (this.stopped) return;
        const status = s.ended!;
        this.ends.push({ id, server: s.server, code: status.code, details: status.details, at: this.now() });
        if (status.code !== grpc.status.UNAVAILABLE) {
          this.unexpected.push(`${id}: ${status.code} ${status.details}`);
          return;
        }
        // After the test's clean-up closed the client, there is nothing to re-open on.
        try {
          this.open(name, generation + 1);
        } catch (error) {
          if (!/shut down/.test(String(error))) throw error;
          this.stopped = true;
        }
      },
      this.metadata(name),
    );
    this.live.set(name, subscription);
  }

  /** Open subscriptions per server, as the client sees them (placed and not ended). */
  counts(): { v1: number; v2: number } {
    const counts = { v1: 0, v2: 0 };
    for (const s of this.live.values())
      if (s.ended === null && (s.server === 'v1' || s.server === 'v2')) counts[s.server]++;
    return counts;
  }

  /** Resolves when every subscription is open and placed, and the servers and the split agree. */
  async settled(rig: StreamRig, timeoutMs = 10_000): Promise<void> {
    const n = this.live.size;
    await eventually(
      () => {
        const client = this.counts();
        const servers = serverCounts(rig);
        const split = splitCounts(rig.split);
        return client.v1 + client.v2 === n && same(client, servers) && same(client, split);
      },
      () =>
        `client ${JSON.stringify(this.counts())}, servers ${JSON.stringify(serverCounts(rig))}, ` +
        `split ${JSON.stringify(splitCounts(rig.split))}, unexpected ${this.unexpected.join('; ')}`,
      timeoutMs,
    );
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.live.values()) s.call.cancel();
  }
}

function same(a: { v1: number; v2: number }, b: { v1: number; v2: number }): boolean {
  return a.v1 === b.v1 && a.v2 === b.v2;
}

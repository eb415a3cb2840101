/** Waiting on a split without sleeping: events where there are some, bounded polling otherwise. */
import { once } from 'node:events';
import type { Client } from '@grpc/grpc-js';
import type { TrafficSplit } from '../../src/index.js';

/** Asks each client's channel to leave IDLE: grpc-js channels connect on the first call otherwise. */
export function connect(...clients: Client[]): void {
  for (const client of clients) client.getChannel().getConnectivityState(true);
}

/** Resolves when every named subset (default: all) is READY in every channel of the split. */
export async function waitForSubsetsReady(
  split: TrafficSplit,
  subsets: readonly string[] = split.subsets,
  timeoutMs = 5_000,
): Promise<void> {
  const allReady = (): boolean => {
    const stats = split.stats();
    return stats.channels > 0 && subsets.every((name) => stats.subsets[name]!.state === 'READY');
  };
  const signal = AbortSignal.timeout(timeoutMs);
  while (!allReady()) {
    try {
      await once(split, 'subsetState', { signal });
    } catch {
      throw new Error(
        `subsets ${subsets.join(', ')} not all READY after ${timeoutMs} ms: ${JSON.stringify(split.stats().subsets)}`,
      );
    }
  }
}

/** Polls `condition` every few ms until it holds; fails with `describe()` after `timeoutMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  describe: () => string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Closes everything a test opened once it ends, in the order given: servers (anything with
 * `kill()`) are killed, clients and splits closed.
 */
export function closeAfter(
  t: { after(fn: () => unknown): void },
  ...things: ({ kill(): unknown } | { close(): unknown })[]
): void {
  t.after(() => {
    for (const thing of things) {
      if ('kill' in thing) void thing.kill();
      else thing.close();
    }
  });
}

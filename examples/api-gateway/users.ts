/**
 * Simulated users calling the gateway: each user sends one request at a time with its
 * `x-user-id`, and the version that answered each one is recorded, so the example can show
 * that sticky users only ever move toward the version whose weight grows.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface UserTraffic {
  /** How many simulated users. */
  users: number;
  requests: number;
  /** Requests answered with a non-200 status, or not answered. */
  failed: number;
  /** Answers per version. */
  byVersion: Record<string, number>;
  /** Users who got at least one failed request. */
  failedUsers: Set<string>;
  /** Users who were served by v2 and later by v1. */
  movedBack: Set<string>;
  /** The version that last served each user. */
  lastVersion: Map<string, string>;
}

/**
 * Sends requests for `users` users (`user-00`, ...) with `concurrency` in flight, until `stop()`
 * is called, `maxRequests` were sent, or `timeoutMs` passed; each worker waits `pauseMs` between
 * its requests (0: none, as fast as the gateway answers). Each user belongs to one worker, so
 * its requests never overlap and their order is the order they were routed in.
 */
export function startUsers(
  gatewayUrl: string,
  { users = 50, concurrency = 4, maxRequests = 200_000, timeoutMs = 120_000, pauseMs = 0 } = {},
) {
  const traffic: UserTraffic = {
    users,
    requests: 0,
    failed: 0,
    byVersion: {},
    failedUsers: new Set(),
    movedBack: new Set(),
    lastVersion: new Map(),
  };
  const names = Array.from({ length: users }, (_, i) => `user-${String(i).padStart(2, '0')}`);
  const deadline = Date.now() + timeoutMs;
  let running = true;
  const worker = async (index: number): Promise<void> => {
    const mine = names.filter((_, i) => i % concurrency === index);
    for (let turn = 0; running && traffic.requests < maxRequests && Date.now() < deadline; turn++) {
      const user = mine[turn % mine.length]!;
      if (pauseMs > 0 && turn > 0) await sleep(pauseMs);
      traffic.requests++;
      const response = await fetch(`${gatewayUrl}/report`, {
        headers: { 'x-user-id': user },
        signal: AbortSignal.timeout(5_000),
      }).catch(() => null);
      const body = response ? ((await response.json().catch(() => ({}))) as { version?: string }) : {};
      if (response?.status !== 200 || body.version === undefined) {
        traffic.failed++;
        traffic.failedUsers.add(user);
        continue;
      }
      traffic.byVersion[body.version] = (traffic.byVersion[body.version] ?? 0) + 1;
      if (traffic.lastVersion.get(user) === 'v2' && body.version === 'v1') traffic.movedBack.add(user);
      traffic.lastVersion.set(user, body.version);
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  return {
    traffic,
    /** Stops sending and resolves when the requests in flight are answered. */
    stop: async (): Promise<UserTraffic> => {
      running = false;
      await workers;
      return traffic;
    },
  };
}

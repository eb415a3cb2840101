/**
 * Connections per split: N splits over the same two backends (same options), one client each
 * built the way the README says (`split.target`, `split.channelOptions`, no local pool), each
 * making one call once every subset is READY; then the TCP connections open on the servers are
 * counted. The same for N plain round_robin channels, which share grpc-js's global subchannel
 * pool. Also checks that each split still counts its own call.
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { callEcho, echoClient, type EchoClientInstance } from '../test/helpers/echo-service.js';
import { startBackends, type Backends } from './backends.js';
import { ROUND_ROBIN_SERVICE_CONFIG, waitForReady, waitForSubsets } from './clients.js';
import { loggerOf, sized, type BenchOptions } from './options.js';
import type { BenchCheck, BenchSection } from './report.js';

/** Clients set up at once: enough to be quick, few enough not to flood the servers' accept. */
const BATCH = 50;
const SETTLE_POLL_MS = 100;
const SETTLE_TIMEOUT_MS = 10_000;

interface Phase {
  sockets: number;
  /** Splits whose stats count exactly the one call made through them (NaN: not splits). */
  countedOwnCall: number;
}

/** Runs the bench; see the module comment. */
export async function runSocketsBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const count = sized(opts, { full: 1000, quick: 1000, tiny: 20 });
  const backends = await startBackends(['v1', 'v2']);
  try {
    const baseline = await settledOpen(backends, null);
    const splits = await splitsPhase(backends, count, baseline);
    log(`sockets: ${count} splits hold ${splits.sockets} socket(s)`);
    await settledOpen(backends, baseline);
    const plain = await plainPhase(backends, count, baseline);
    log(`sockets: ${count} plain round_robin channels hold ${plain.sockets} socket(s)`);
    const group =
      `sockets: ${count.toLocaleString('en-US')} splits, one client ` +
      `each, same two backends: <= 4 open, each split counts its own call`;
    const checks: BenchCheck[] = [
      {
        group,
        label: 'sockets',
        target: `${count} splits over two backends: <= 4 sockets open`,
        measured: String(splits.sockets),
        ok: splits.sockets <= 4,
      },
      {
        group,
        label: 'splits counting their call',
        target: `each of ${count} splits counts exactly its one call`,
        measured: `${splits.countedOwnCall} of ${count}`,
        ok: splits.countedOwnCall === count,
      },
      {
        group: `sockets: ${count.toLocaleString('en-US')} plain round_robin channels, same two backends (figure)`,
        label: 'sockets',
        target: `${count} plain round_robin channels: sockets open`,
        measured: String(plain.sockets),
        ok: true,
        informational: true,
      },
    ];
    return {
      title: 'Connections: many splits over the same backends',
      notes: [
        `${count} splits (v1 90, v2 10) over the same two echo servers, one client each ` +
          `from split.target and split.channelOptions, ${BATCH} set up at a time; each client ` +
          `made one call once its split's subsets were READY. Sockets: TCP connections open on ` +
          `the servers (counted there), once the count held still for ${SETTLE_POLL_MS} ms.`,
        `Against ${count} plain round_robin channels to the same two servers (grpc-js's global subchannel pool).`,
      ],
      tables: [
        {
          columns: ['clients', 'sockets open', 'per 1,000 clients', 'splits counting their own call'],
          rows: [
            [
              `${count} splits`,
              String(splits.sockets),
              String(Math.round((splits.sockets * 1000) / count)),
              `${splits.countedOwnCall} of ${count}`,
            ],
            [
              `${count} plain round_robin channels`,
              String(plain.sockets),
              String(Math.round((plain.sockets * 1000) / count)),
              '',
            ],
          ],
        },
      ],
      checks,
      json: { count, splits, plain },
    };
  } finally {
    await backends.stop();
  }
}

async function splitsPhase(backends: Backends, count: number, baseline: number): Promise<Phase> {
  const splits: TrafficSplit[] = [];
  const clients: EchoClientInstance[] = [];
  try {
    for (let first = 0; first < count; first += BATCH) {
      const batch: Promise<void>[] = [];
      for (let i = first; i < Math.min(count, first + BATCH); i++) {
        const split = new TrafficSplit({
          name: `sockets-${i}`,
          subsets: { v1: backends.target('v1'), v2: backends.target('v2') },
          weights: { v1: 90, v2: 10 },
        });
        const client = echoClient(split.target, split.channelOptions);
        splits.push(split);
        clients.push(client);
        batch.push(
          waitForReady(client)
            .then(() => waitForSubsets(split))
            .then(() => callEcho(client))
            .then(() => {}),
        );
      }
      await Promise.all(batch);
    }
    const sockets = (await settledOpen(backends, null)) - baseline;
    const countedOwnCall = splits.filter(
      (split) => Object.values(split.stats().subsets).reduce((sum, s) => sum + s.started, 0) === 1,
    ).length;
    return { sockets, countedOwnCall };
  } finally {
    for (const client of clients) client.close();
    for (const split of splits) split.close();
  }
}

async function plainPhase(backends: Backends, count: number, baseline: number): Promise<Phase> {
  const target = `ipv4:127.0.0.1:${backends.ports['v1']},127.0.0.1:${backends.ports['v2']}`;
  const clients: EchoClientInstance[] = [];
  try {
    for (let first = 0; first < count; first += BATCH) {
      const batch: Promise<unknown>[] = [];
      for (let i = first; i < Math.min(count, first + BATCH); i++) {
        // No local pool: these channels share grpc-js's global subchannel pool, as applications' do.
        const client = echoClient(target, { 'grpc.service_config': ROUND_ROBIN_SERVICE_CONFIG });
        clients.push(client);
        batch.push(waitForReady(client).then(() => callEcho(client, {}, new grpc.Metadata())));
      }
      await Promise.all(batch);
    }
    return { sockets: (await settledOpen(backends, null)) - baseline, countedOwnCall: NaN };
  } finally {
    for (const client of clients) client.close();
  }
}

/**
 * Open sockets on both servers once the count holds still (or, with `target`, once it is back
 * to `target`), polled; the last reading when neither happens within the timeout.
 */
async function settledOpen(backends: Backends, target: number | null): Promise<number> {
  const read = async (): Promise<number> => Object.values(await backends.open()).reduce((a, b) => a + b, 0);
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let last = await read();
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    const now = await read();
    if (target === null ? now === last : now === target) return now;
    last = now;
  }
  return last;
}

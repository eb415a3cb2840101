/**
 * Soak: `npm run soak -- --minutes N`. Unary load through a split over two echo servers (each in
 * a child process, on 127.0.0.1), with the weights changing every 50 ms and, every 15 s, one
 * server SIGKILLed and restarted on the same port 2 s later. Prints calls, errors, memory and
 * handles every 10 s and a summary at the end; stops by itself after N minutes (default 1).
 *
 * Exit code 1 when a call ended twice or never, or failed with anything other than UNAVAILABLE
 * (the status of calls cut off by a server's death).
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { startChildServer, type ChildServer } from '../test/helpers/child-server.js';
import { echoClient } from '../test/helpers/echo-service.js';
import { startLoad, within } from '../test/helpers/load.js';
import { connect, waitForSubsetsReady } from '../test/helpers/split-helpers.js';

const USAGE = `usage: npm run soak -- [--minutes N] [--concurrency C]
  --minutes N       how long to run (default 1; fractions allowed)
  --concurrency C   calls in flight (default 16)`;

const REPORT_EVERY_MS = 10_000;
const WEIGHTS_EVERY_MS = 50;
const KILL_EVERY_MS = 15_000;
const DOWN_FOR_MS = 2_000;
const DEADLINE_MS = 5_000;
const WEIGHTS = [
  { v1: 50, v2: 50 },
  { v1: 90, v2: 10 },
  { v1: 10, v2: 90 },
  { v1: 1, v2: 3 },
  { v1: 0, v2: 1 },
  { v1: 1, v2: 0 },
];

function parseArgs(argv: string[]): { minutes: number; concurrency: number } {
  const options = { minutes: 1, concurrency: 16 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = Number(argv[i + 1]);
    if (flag === '--minutes' && Number.isFinite(value) && value > 0) options.minutes = value;
    else if (flag === '--concurrency' && Number.isInteger(value) && value > 0) options.concurrency = value;
    else {
      process.stderr.write(`${flag === '--help' ? '' : `bad argument: ${flag} ${argv[i + 1] ?? ''}\n`}${USAGE}\n`);
      process.exit(flag === '--help' ? 0 : 2);
    }
    i++;
  }
  return options;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function handles(): string {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return `${total} ${JSON.stringify(counts)}`;
}

async function main(): Promise<void> {
  const { minutes, concurrency } = parseArgs(process.argv.slice(2));
  const runMs = Math.round(minutes * 60_000);
  const servers: Record<'v1' | 'v2', ChildServer> = {
    v1: await startChildServer('v1'),
    v2: await startChildServer('v2'),
  };
  // With a weight of 0 in the rotation, the only weighted subset is sometimes the dead one:
  // fallbackToZeroWeight lets the other serve, so that failures are only calls cut off.
  const split = new TrafficSplit({
    subsets: { v1: servers.v1.target, v2: servers.v2.target },
    weights: WEIGHTS[0]!,
    name: 'soak',
    fallbackToZeroWeight: true,
  });
  const client = echoClient(split.target, {
    ...split.channelOptions,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1_000,
  });
  connect(client);
  await waitForSubsetsReady(split);
  process.stdout.write(
    `soak: ${minutes} min, concurrency ${concurrency}, weights every ${WEIGHTS_EVERY_MS} ` +
      `ms, a server killed every ${KILL_EVERY_MS / 1000} s ` +
      `for ${DOWN_FOR_MS / 1000} s; servers v1 :${servers.v1.port}, v2 :${servers.v2.port}\n`,
  );

  const started = performance.now();
  const elapsedS = () => Math.round((performance.now() - started) / 1000);
  // Bounded in count as well as time: far more calls than loopback can make in `runMs`.
  const load = startLoad(client, {
    concurrency,
    maxCalls: Math.ceil(minutes * 60 * 50_000),
    maxMs: runMs,
    deadlineMs: DEADLINE_MS,
  });

  let weightChanges = 0;
  const weightTimer = setInterval(
    () => split.setWeights(WEIGHTS[++weightChanges % WEIGHTS.length]!),
    WEIGHTS_EVERY_MS,
  );

  let kills = 0;
  let faulting = Promise.resolve();
  const faultTimer = setInterval(() => {
    const name = kills++ % 2 === 0 ? 'v2' : 'v1';
    faulting = faulting.then(async () => {
      const port = servers[name].port;
      await servers[name].kill();
      process.stdout.write(`[${String(elapsedS()).padStart(4)}s] killed ${name} (:${port})\n`);
      await new Promise((resolve) => setTimeout(resolve, DOWN_FOR_MS));
      if (performance.now() - started > runMs) return;
      servers[name] = await startChildServer(name, port);
      process.stdout.write(`[${String(elapsedS()).padStart(4)}s] restarted ${name} (:${port})\n`);
    });
  }, KILL_EVERY_MS);

  let lastEnded = 0;
  let lastAt = performance.now();
  const report = () => {
    const ended = load.ended();
    const now = performance.now();
    const codes: Record<string, number> = {};
    for (const failure of load.failures) {
      const key = `${grpc.status[failure.code]}: ${failure.details.slice(0, 40)}`;
      codes[key] = (codes[key] ?? 0) + 1;
    }
    const memory = process.memoryUsage();
    const states = split.subsets.map((name) => `${name} ${split.stats().subsets[name]!.state}`).join(', ');
    process.stdout.write(
      `[${String(elapsedS()).padStart(4)}s] calls ${ended} ` +
        `(+${Math.round(((ended - lastEnded) * 1000) / Math.max(1, now - lastAt))}/s) ` +
        `errors ${load.failures.length} ${JSON.stringify(codes)} heap ${mb(memory.heapUsed)} rss ${mb(memory.rss)} ` +
        `handles ${handles()} weights ${JSON.stringify(split.getWeights())} ${states}\n`,
    );
    lastEnded = ended;
    lastAt = now;
  };
  const reportTimer = setInterval(report, REPORT_EVERY_MS);

  await load.done.finally(() => {
    clearInterval(weightTimer);
    clearInterval(faultTimer);
  });
  clearInterval(reportTimer);
  report();
  await faulting;
  const stats = split.stats();
  client.close();
  split.close();
  await within(Promise.all([servers.v1.kill(), servers.v2.kill()]), 10_000, () => 'servers did not exit');

  const unexpected = load.failures.filter((f) => f.code !== grpc.status.UNAVAILABLE);
  const counted = stats.subsets['v1']!.finished + stats.subsets['v2']!.finished;
  process.stdout.write(
    `soak done: ${load.issued()} calls, ${load.ended()} ` +
      `ended, ${load.extraCallbacks()} ended twice, ${load.failures.length} failed ` +
      `(${unexpected.length} not UNAVAILABLE), ${kills} kills, ${weightChanges} ` +
      `weight changes; the split counted ${counted} calls ` +
      `finished on a subset, ${stats.subsets['v1']!.inFlight + stats.subsets['v2']!.inFlight} in flight\n`,
  );
  for (const failure of unexpected.slice(0, 5))
    process.stdout.write(`  ${grpc.status[failure.code]}: ${failure.details}\n`);
  if (load.ended() !== load.issued() || load.extraCallbacks() !== 0 || unexpected.length > 0) process.exitCode = 1;
  // Everything is closed: the process ends by itself. If something were left open, say so.
  setTimeout(() => {
    process.stderr.write(`soak: still running 10 s after closing everything; handles ${handles()}\n`);
    process.exit(1);
  }, 10_000).unref();
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

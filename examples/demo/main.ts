/**
 * `npm run demo`: a live traffic split over ONE persistent client channel, on loopback.
 *
 * Starts a v1 and a v2 reporter server, builds one client from a TrafficSplit, keeps calls
 * flowing, and moves the weights 90/10 -> 50/50 -> 10/90 -> 0/100 while it runs. Each phase
 * prints the weights, the split the servers actually saw, and the TCP connections each server
 * has accepted: they stay at one, because the split happens per call, not per connection.
 */
import { TrafficSplit } from 'grpc-traffic-split';
import { reporterClient, startReporter, type ReporterClient } from './reporter.js';

const PHASES = [
  { v1: 90, v2: 10 },
  { v1: 50, v2: 50 },
  { v1: 10, v2: 90 },
  { v1: 0, v2: 100 },
];
const PHASE_MS = 3_000;
const CONCURRENCY = 8;

const v1 = await startReporter('v1');
const v2 = await startReporter('v2');
const split = new TrafficSplit({
  name: 'reporter',
  subsets: { v1: `ipv4:127.0.0.1:${v1.port}`, v2: `ipv4:127.0.0.1:${v2.port}` },
  weights: PHASES[0]!,
});
const client = reporterClient(split.target, split.channelOptions);

console.log(`v1 on 127.0.0.1:${v1.port}, v2 on 127.0.0.1:${v2.port}; one client channel to ${split.target}`);
console.log(
  `${CONCURRENCY} calls in flight at all times; the weights change every ${PHASE_MS / 1000} s without reconnecting.\n`,
);

let counts = { v1: 0, v2: 0 };
let failures = 0;
let running = true;

function call(c: ReporterClient): Promise<void> {
  return new Promise((resolve) =>
    c.getReport({}, (error, report) => {
      if (error) failures++;
      else counts[report!.version as 'v1' | 'v2']++;
      resolve();
    }),
  );
}

async function worker(): Promise<void> {
  while (running) await call(client);
}

await new Promise<void>((resolve, reject) =>
  client.waitForReady(Date.now() + 5_000, (e) => (e ? reject(e) : resolve())),
);
const workers = Array.from({ length: CONCURRENCY }, () => worker());

const pct = (n: number, total: number) => `${((100 * n) / Math.max(total, 1)).toFixed(1).padStart(5)}%`;
console.log('weights v1/v2 | calls  | seen on v1      | seen on v2      | TCP connections accepted v1, v2');
console.log('------------- | ------ | --------------- | --------------- | -------------------------------');
for (const weights of PHASES) {
  split.setWeights(weights); // in force for the very next call
  counts = { v1: 0, v2: 0 };
  await new Promise((resolve) => setTimeout(resolve, PHASE_MS));
  const seen = { ...counts };
  const total = seen.v1 + seen.v2;
  console.log(
    `${`${weights.v1}/${weights.v2}`.padEnd(13)} | ${String(total).padStart(6)} ` +
      `| ${String(seen.v1).padStart(7)} ${pct(seen.v1, total)} | ` +
      `${String(seen.v2).padStart(7)} ${pct(seen.v2, total)} ` +
      `| ${v1.acceptedConnections()}, ${v2.acceptedConnections()}`,
  );
}

running = false;
await Promise.all(workers);
const stats = split.stats();
console.log('(a call already in flight when the weights change finishes on the subset it started on)');
console.log(
  `\nfailed calls: ${failures}; split.stats() codes: ` +
    `v1 ${JSON.stringify(stats.subsets['v1']!.codes)}, v2 ${JSON.stringify(stats.subsets['v2']!.codes)}`,
);
client.close();
split.close();
await Promise.all([v1.stop(), v2.stop()]);

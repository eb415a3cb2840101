/**
 * A keyless split's pick in a loop, for a CPU profile (not part of `npm run bench`):
 * `node --cpu-prof dist/benchmarks/pick-profile.js [subsets=2] [seconds=5] [all|pickonly]`.
 * Calls are prepared as in the pick-ratio bench; `all` also runs each pick's hooks and ends it.
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { echoService } from '../test/helpers/echo-service.js';
import { startBackends } from './backends.js';
import { splitClient, waitForReady, waitForSubsets } from './clients.js';
import {
  livePicker,
  pickBenchWeights,
  splitCallPipeline,
  type PickResultLike,
  type PreparedCall,
} from './pick-pipeline.js';

const TRAILERS = new grpc.Metadata();

/** The timed loop, apart so that a profile shows what runs under it. */
function pickBatch(
  picker: ReturnType<typeof livePicker>,
  calls: PreparedCall[],
  results: PickResultLike[],
  args: { metadata: grpc.Metadata; extraPickInfo: Record<string, string> },
): void {
  for (let i = 0; i < calls.length; i++) {
    args.metadata = calls[i]!.metadata;
    results[i] = picker.pick(args);
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2);
  const seconds = Number(process.argv[3] ?? 5);
  const mode = process.argv[4] ?? 'all';
  const backends = await startBackends(['v1', 'v2']);
  const names = Array.from({ length: n }, (_, i) => `s${i}`);
  const subsets = Object.fromEntries(names.map((s, i) => [s, backends.target(i % 2 === 0 ? 'v1' : 'v2')]));
  const weights = Object.fromEntries(pickBenchWeights(n).map((w, i) => [names[i]!, w]));
  const split = new TrafficSplit({ name: 'profile', subsets, weights });
  const client = splitClient(split);
  await waitForReady(client);
  await waitForSubsets(split);
  const picker = livePicker(client);
  const pipeline = splitCallPipeline(split, echoService.echo);
  const BATCH = 1024;
  const calls = new Array<PreparedCall>(BATCH);
  const results = new Array<PickResultLike>(BATCH);
  const args = { metadata: new grpc.Metadata(), extraPickInfo: {} as Record<string, string> };
  const until = Date.now() + seconds * 1000;
  let picks = 0;
  let pickNs = 0;
  while (Date.now() < until) {
    for (let i = 0; i < BATCH; i++) calls[i] = pipeline(new grpc.Metadata());
    (globalThis as { gc?: () => void }).gc?.();
    const t0 = process.hrtime.bigint();
    pickBatch(picker, calls, results, args);
    pickNs += Number(process.hrtime.bigint() - t0);
    if (mode === 'all')
      for (let i = 0; i < BATCH; i++) {
        const result = results[i]!;
        result.onCallStarted?.call(result);
        result.onCallEnded?.(grpc.status.OK, 'OK', TRAILERS);
      }
    for (let i = 0; i < BATCH; i++) calls[i]!.end();
    picks += BATCH;
  }
  console.log(`${n} subsets: ${(pickNs / picks).toFixed(1)} ns per pick over ${picks} picks`);
  client.close();
  split.close();
  await backends.stop();
}

void main();

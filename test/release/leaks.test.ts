/**
 * Leaks and lifecycle: many splits and channels created and closed leave nothing behind; a
 * closed split refuses changes; calls in flight or queued at close() all end.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, TrafficSplitClosedError } from '../../src/index.js';
import { echoClient } from '../helpers/echo-service.js';
import type { LeakReport } from '../fixtures/leak-measure.js';
import { within } from '../helpers/load.js';
import { setManualEndpoints } from '../helpers/manual-resolver.js';
import { rig } from '../helpers/rig.js';
import { eventually } from '../helpers/split-helpers.js';

const ITERATIONS = 1_000;
/** Heap growth allowed from round 100 to round 1000. Observed: 1.3-1.6 MB of warm-up (JIT code,
 * inline caches); keeping every closed split and client alive instead costs about 19 KB per
 * round, 17 MB over those 900 rounds. */
const HEAP_TOLERANCE = 4 * 1024 * 1024;

type Outcome = { code: string; details: string };

/** Starts a unary call and records how (and how often) it ended. */
function track(
  client: ReturnType<typeof echoClient>,
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
) {
  const ends: Outcome[] = [];
  const ended = new Promise<void>((resolve) => {
    client.echo(request, metadata, options, (error) => {
      ends.push(
        error
          ? { code: grpc.status[(error as grpc.ServiceError).code]!, details: (error as grpc.ServiceError).details }
          : { code: 'OK', details: '' },
      );
      resolve();
    });
  });
  return { ends, ended };
}

describe('leaks and lifecycle', () => {
  it(`creates and closes ${ITERATIONS} splits with a channel each and keeps no handle, timer or heap`, async (t) => {
    const script = fileURLToPath(new URL('../fixtures/leak-measure.js', import.meta.url));
    const child = spawn(process.execPath, ['--expose-gc', script, String(ITERATIONS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);
    assert.deepEqual([code, signal], [0, null], stdout);
    const report = JSON.parse(stdout) as LeakReport;
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
    const [at100, atEnd] = [report.points[0]!, report.points.at(-1)!];
    t.diagnostic(
      `${ITERATIONS} rounds in ${report.durationMs} ms; heap after gc: before ${mb(report.baseline.heapUsed)}, ` +
        `at 100 ${mb(at100.heapUsed)}, at ${atEnd.iteration} ${mb(atEnd.heapUsed)} ` +
        `(+${mb(atEnd.heapUsed - at100.heapUsed)}); ` +
        `handles ${JSON.stringify(atEnd.resources)}, async resources ${JSON.stringify(atEnd.live)}`,
    );
    assert.deepEqual([at100.iteration, atEnd.iteration], [100, ITERATIONS]);
    for (const point of report.points) {
      assert.deepEqual(point.resources, report.baseline.resources, `handles at round ${point.iteration}`);
      assert.deepEqual(point.live, report.baseline.live, `async resources at round ${point.iteration}`);
      assert.deepEqual(point.timers, report.baseline.timers, `timers (unref'd included) at round ${point.iteration}`);
    }
    assert.ok(
      atEnd.heapUsed - at100.heapUsed < HEAP_TOLERANCE,
      `heap grew by ${mb(atEnd.heapUsed - at100.heapUsed)} from round 100`,
    );
  });

  it('refuses setWeights() after close() with TrafficSplitClosedError, and still answers reads', async (t) => {
    const { split, client } = await rig(t, { v1: 1, v2: 3 });
    split.close();
    assert.equal(split.closed, true);
    assert.throws(
      () => split.setWeights({ v1: 1, v2: 1 }),
      (error: unknown) => {
        assert.ok(error instanceof TrafficSplitClosedError);
        assert.equal(error.code, 'ERR_SPLIT_CLOSED');
        assert.equal(error.message, 'traffic split "split" is closed; setWeights() is not possible');
        return true;
      },
    );
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 3 });
    assert.equal(split.stats().closed, true);
    assert.equal(split.subsetFor('user-1'), split.subsetFor('user-1'));
    split.close(); // idempotent
    assert.throws(() => split.route({ subset: 'v2' }), {
      name: 'TrafficSplitClosedError',
      message: 'traffic split "split" is closed; route() is not possible',
    });
    // Calls on its channels fail at once.
    const plain = track(client, {}, new grpc.Metadata(), { deadline: Date.now() + 5_000 });
    await plain.ended;
    assert.deepEqual(plain.ends, [{ code: 'UNAVAILABLE', details: 'traffic_split: split "split" is closed' }]);
    // A channel built from the target of a closed split fails its calls at once too, under
    // wait-for-ready included, and never connects.
    const late = echoClient(split.target, split.channelOptions);
    t.after(() => late.close());
    const lateCalls = [
      track(late, {}, new grpc.Metadata(), { deadline: Date.now() + 30_000 }),
      track(late, {}, new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + 30_000 }),
    ];
    await Promise.all(lateCalls.map((call) => call.ended));
    assert.deepEqual(
      lateCalls.map((call) => call.ends),
      Array(2).fill([{ code: 'UNAVAILABLE', details: 'traffic_split: split "split" is closed' }]),
    );
  });

  it('ends every call in flight or queued at close() exactly once: in flight ones finish, queued ones fail at once', async (t) => {
    // v2 resolves to no endpoint: calls routed to it under wait-for-ready queue until close().
    const { split, client } = await rig(t, { v1: 1, v2: 1 });
    const stuck = new TrafficSplit({
      subsets: { v1: split.stats().subsets['v1']!.target, v2: setManualEndpoints('leaks-empty', []) },
      weights: { v1: 1, v2: 1 },
      name: 'stuck',
    });
    const stuckClient = echoClient(stuck.target, stuck.channelOptions);
    t.after(() => {
      stuckClient.close();
      stuck.close();
    });
    const slow = (server: string) => ({ slowServer: server, delayMs: 300 });
    const deadline = () => Date.now() + 10_000;
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      track(client, slow(i % 2 === 0 ? 'v1' : 'v2'), new grpc.Metadata(), { deadline: deadline() }),
    );
    const queued = Array.from({ length: 5 }, () =>
      track(stuckClient, {}, new grpc.Metadata({ waitForReady: true }), {
        ...stuck.route({ subset: 'v2' }),
        deadline: deadline(),
      }),
    );
    const started = () => split.stats().subsets['v1']!.inFlight + split.stats().subsets['v2']!.inFlight;
    await eventually(
      () => started() === 20,
      () => `${started()} calls in flight`,
    );
    // Queued calls wait for v2 of `stuck`; make sure they reached the channel before closing.
    await eventually(
      () => stuck.stats().subsets['v1']!.state === 'READY',
      () => JSON.stringify(stuck.stats().subsets),
    );
    split.close();
    stuck.close();
    await within(Promise.all([...inFlight, ...queued].map((call) => call.ended)), 15_000, () => 'calls still open');
    assert.deepEqual(
      inFlight.map((call) => call.ends),
      Array(20).fill([{ code: 'OK', details: '' }]),
      'in flight at close(): finished',
    );
    assert.deepEqual(
      queued.map((call) => call.ends),
      Array(5).fill([{ code: 'UNAVAILABLE', details: 'traffic_split: split "stuck" is closed' }]),
    );
    assert.equal(split.stats().subsets['v1']!.finished + split.stats().subsets['v2']!.finished, 20);
    assert.equal(started(), 0);
  });
});

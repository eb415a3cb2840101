/**
 * Endpoints added to and removed from a subset by its resolver while calls run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrafficSplit } from '../src/index.js';
import { echoClient } from './helpers/echo-service.js';
import { FakeClock } from './helpers/fake-clock.js';
import { startLoad, within, type Load } from './helpers/load.js';
import { setManualEndpoints } from './helpers/manual-resolver.js';
import { startServer } from './helpers/servers.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

describe('discovery changes under load', () => {
  it('sends traffic to an added endpoint without reconnecting the others, none to a removed one, and fails no call', async (t) => {
    const v1 = await startServer('v1');
    const a = await startServer('v2-a');
    const b = await startServer('v2-b');
    const name = 'discovery-changes-v2';
    const v2Target = setManualEndpoints(name, [a.port]);
    // Re-resolution on a fake clock: each scale event is revealed by the one period the test
    // moves time on, not by a 20 ms timer racing the load on a busy machine.
    const clock = new FakeClock();
    const period = 60_000;
    const split = new TrafficSplit({
      subsets: { v1: v1.target, v2: v2Target },
      weights: { v1: 1, v2: 3 },
      reresolveIntervalMs: period,
      clock,
    });
    const client = echoClient(split.target, split.channelOptions);
    let load: Load | undefined;
    t.after(async () => {
      load?.stop(); // a failed test must not leave its load running
      client.close();
      split.close();
      await Promise.all([v1.kill(), a.kill(), b.kill()]);
    });
    connect(client);
    await waitForSubsetsReady(split);

    // Which server answered each call, by issue number.
    const answeredBy: string[] = [];
    load = startLoad(client, {
      concurrency: 8,
      maxCalls: 200_000,
      maxMs: 30_000,
      onEnd: (n, _error, reply) => {
        if (reply !== undefined) answeredBy[n] = reply.server;
      },
    });
    const served = (server: string) => load.servers.get(server) ?? 0;
    const describeLoad = () =>
      `${JSON.stringify(Object.fromEntries(load.servers))}, failures ${JSON.stringify(load.failures.slice(0, 3))}`;
    await eventually(() => served('v1') >= 100 && served('v2-a') >= 300, describeLoad, 10_000);

    // Scale-up: b appears behind the subset's name; only the periodic re-resolution reveals it.
    setManualEndpoints(name, [a.port, b.port]);
    clock.advance(period);
    await eventually(() => served('v2-b') >= 300, describeLoad, 10_000);
    assert.deepEqual([v1.accepted(), a.accepted(), b.accepted()], [1, 1, 1], 'connections accepted by v1, v2-a, v2-b');

    // Scale-down: a leaves. Calls issued once the subset has one endpoint never reach it.
    setManualEndpoints(name, [b.port]);
    clock.advance(period);
    await eventually(
      () => split.stats().subsets['v2']!.endpoints === 1,
      () => JSON.stringify(split.stats().subsets['v2']),
      10_000,
    );
    const removedFrom = load.issued();
    const bBefore = served('v2-b');
    await eventually(() => served('v2-b') >= bBefore + 300, describeLoad, 10_000);
    load.stop();
    await within(load.done, 10_000, describeLoad);

    const afterRemoval = answeredBy.slice(removedFrom).filter((server) => server === 'v2-a').length;
    t.diagnostic(`${load.issued()} calls: ${describeLoad()}; v2-a connections open at the end: ${a.open()}`);
    assert.equal(load.ended(), load.issued());
    assert.deepEqual(load.failures, [], 'no call failed');
    assert.equal(afterRemoval, 0, 'calls issued after the removal that reached v2-a');
    assert.deepEqual([v1.accepted(), a.accepted(), b.accepted()], [1, 1, 1], 'no reconnect anywhere');
    assert.equal(split.stats().subsets['v2']!.state, 'READY');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { FakeClock } from './helpers/fake-clock.js';
import { manualResolutions, setManualEndpoints } from './helpers/manual-resolver.js';
import { countOf } from './helpers/sequences.js';
import { startServer } from './helpers/servers.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

describe('discovery', () => {
  it('resolves each subset with its own resolver and picks up new endpoints on the periodic re-resolution', async (t) => {
    const first = await startServer('v2-a');
    const second = await startServer('v2-b');
    const v1 = await startServer('v1');
    const v2Target = setManualEndpoints('discovery-v2', [first.port]);
    // The re-resolution runs on a fake clock: it happens when the test moves time on, however
    // slow the machine (an hour of fake time: on the real clock the test would time out).
    const clock = new FakeClock();
    const split = new TrafficSplit({
      subsets: { v1: v1.target, v2: v2Target },
      weights: { v1: 0, v2: 1 },
      reresolveIntervalMs: 3_600_000,
      clock,
    });
    const client = echoClient(split.target, split.channelOptions);
    t.after(async () => {
      client.close();
      split.close();
      await Promise.all([first.kill(), second.kill(), v1.kill()]);
    });
    connect(client);
    await waitForSubsetsReady(split);
    assert.equal(split.stats().subsets['v2']!.endpoints, 1);
    const before = new Set<string>();
    for (let i = 0; i < 20; i++) before.add((await callEcho(client)).server);
    assert.deepEqual([...before], ['v2-a']);

    // Scale-up: nothing disconnects, so only the periodic re-resolution can reveal it.
    const asked = manualResolutions('discovery-v2');
    setManualEndpoints('discovery-v2', [first.port, second.port]);
    assert.ok(clock.pending.includes(3_600_000), `pending timers ${clock.pending}`);
    clock.advance(3_600_000);
    await eventually(
      () => split.stats().subsets['v2']!.endpoints === 2,
      () => `endpoints ${split.stats().subsets['v2']!.endpoints}`,
    );
    assert.ok(manualResolutions('discovery-v2') > asked);
    await eventually(
      async () => (await callEcho(client)).server === 'v2-b',
      () => 'no call reached v2-b',
    );
    const servers: string[] = [];
    for (let i = 0; i < 20; i++)
      servers.push((await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 3_000 })).server);
    assert.deepEqual(countOf(servers), { 'v2-a': 10, 'v2-b': 10 });
    assert.equal(first.accepted(), 1, 'the existing endpoint was not reconnected');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { connect, eventually, waitForSubsetsReady, closeAfter } from './helpers/split-helpers.js';
import { feedClient, startFeedServer } from './helpers/stream-service.js';

describe('subset state events across a channel going IDLE', () => {
  it('reports the subsets IDLE when the only channel goes idle, and READY again when it reconnects', async (t) => {
    const v1 = await startFeedServer('v1');
    const v2 = await startFeedServer('v2');
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 50, v2: 50 } });
    const client = feedClient(split.target, split.withChannelOptions({ 'grpc.client_idle_timeout_ms': 1_000 }));
    closeAfter(t, client, split, v1, v2);
    const events: string[] = [];
    split.on('subsetState', (e: { subset: string; state: string }) => events.push(`${e.subset}:${e.state}`));
    connect(client);
    await waitForSubsetsReady(split);
    const channel = client.getChannel();
    // No call: the channel goes IDLE after its idle timeout (grpc-js's own timer).
    await eventually(
      () => channel.getConnectivityState(false) === grpc.connectivityState.IDLE,
      () => grpc.connectivityState[channel.getConnectivityState(false)]!,
      10_000,
    );
    assert.deepEqual([split.stats().subsets['v1']!.state, split.stats().subsets['v2']!.state], ['IDLE', 'IDLE']);
    assert.deepEqual(events.filter((e) => e.endsWith('IDLE')).sort(), ['v1:IDLE', 'v2:IDLE']);
    events.length = 0;
    connect(client);
    await waitForSubsetsReady(split);
    assert.deepEqual(events.filter((e) => e.endsWith('READY')).sort(), ['v1:READY', 'v2:READY']);
  });
});

/**
 * Adversary review of issue 19 on real servers: connect grace against a hedging policy, beside
 * a plain round_robin channel. A call waiting for a subset in its grace must keep its place for
 * every attempt: its hedge (made while the first attempt is still queued) waits with it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrafficSplit } from '../src/index.js';
import { echoClient } from './helpers/echo-service.js';
import { burst, ready } from './helpers/bursts.js';
import { gatedProxy } from './helpers/gated-proxy.js';
import { startServer } from './helpers/servers.js';
import { closeAfter, eventually } from './helpers/split-helpers.js';

/** Hedging with no delay: the hedge of each call is made at once, while its first attempt waits. */
const HEDGING = JSON.stringify({
  methodConfig: [{ name: [{ service: 'test.Echo' }], hedgingPolicy: { maxAttempts: 2, hedgingDelay: '0s' } }],
});

describe('connect grace against hedging (real servers)', () => {
  for (const retryOnOtherSubset of [false, true]) {
    it(
      `keeps a hedged burst at 50/50 while v2 connects: each waiting call's hedge waits ` +
        `with it (retryOnOtherSubset ${retryOnOtherSubset}); round_robin sends all to v1`,
      async (t) => {
        const v1 = await startServer('v1');
        const v2 = await startServer('v2');
        const proxy = await gatedProxy(v2.port);
        t.after(() => proxy.close());
        const split = new TrafficSplit({
          subsets: { v1: v1.target, v2: proxy.target },
          weights: { v1: 50, v2: 50 },
          connectGraceMs: 60_000,
          retryOnOtherSubset,
        });
        const client = echoClient(split.target, split.withChannelOptions({ 'grpc.service_config': HEDGING }));
        const plain = echoClient(`ipv4:127.0.0.1:${v1.port},${proxy.target.slice('ipv4:'.length)}`, {
          'grpc.service_config': JSON.stringify({
            loadBalancingConfig: [{ round_robin: {} }],
            ...JSON.parse(HEDGING),
          }),
        });
        closeAfter(t, client, plain, split, v1, v2);
        await ready(client);
        await ready(plain);
        const calls = burst(client, 100);
        // v1 answers its 50 (a network round trip each): by then every hedge (a 0 ms timer) was made.
        await eventually(
          () => calls.received() >= 50,
          () => JSON.stringify(calls.replies),
        );
        const plainCalls = burst(plain, 100);
        await plainCalls.all;
        proxy.open();
        await calls.all;
        assert.deepEqual(calls.replies, { v1: 50, v2: 50 });
        assert.deepEqual(plainCalls.replies, { v1: 100 });
        const stats = split.stats();
        assert.equal(
          stats.subsets['v2']!.finished + stats.subsets['v2']!.abandoned + stats.subsets['v2']!.refused,
          stats.subsets['v2']!.started,
        );
      },
    );
  }
});

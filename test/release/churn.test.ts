/**
 * Weight churn and channel churn racing with heavy load: every call completes exactly once, the
 * split's counters add up to the calls made, and nothing is left open afterwards.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../../src/index.js';
import { startChildServer } from '../helpers/child-server.js';
import { callEcho, echoClient } from '../helpers/echo-service.js';
import { startLoad, within } from '../helpers/load.js';
import { activeResources, diffResources } from '../helpers/resources.js';
import { connect, eventually, waitForSubsetsReady } from '../helpers/split-helpers.js';

const CALLS = 100_000;
const WEIGHTS = [
  { v1: 90, v2: 10 },
  { v1: 10, v2: 90 },
  { v1: 50, v2: 50 },
  { v1: 0, v2: 1 },
  { v1: 1, v2: 0 },
  { v1: 0.5, v2: 1 },
];

describe('churn', () => {
  it(
    `completes ${CALLS} calls with the weights changing every ` +
      `millisecond and a channel opened and closed every 100 ms`,
    async (t) => {
      const v1 = await startChildServer('v1');
      const v2 = await startChildServer('v2');
      t.after(() => Promise.all([v1.kill(), v2.kill()]));
      const baseline = activeResources();

      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: WEIGHTS[0]! });
      const client = echoClient(split.target, split.channelOptions);
      connect(client);
      await waitForSubsetsReady(split);
      const started = performance.now();

      let weightChanges = 0;
      const changeWeights = () => {
        if (!split.closed) split.setWeights(WEIGHTS[++weightChanges % WEIGHTS.length]!);
      };
      // A 1 ms interval fires once per turn of a busy event loop (about 100 times a second here),
      // so the weights also change as every third call ends: about 1,000 changes a second, each
      // between two picks.
      const weightTimer = setInterval(changeWeights, 1);
      // Each short-lived channel makes a few calls of its own, then closes with none in flight.
      let churnChannels = 0;
      let churnCalls = 0;
      const churnErrors: string[] = [];
      const churning = new Set<Promise<void>>();
      const churnTimer = setInterval(() => {
        const task = (async () => {
          const channel = echoClient(split.target, split.channelOptions);
          churnChannels++;
          try {
            for (let i = 0; i < 5; i++) {
              churnCalls++;
              await callEcho(channel, {}, new grpc.Metadata(), { deadline: Date.now() + 5_000 });
            }
          } catch (error) {
            churnErrors.push(String(error));
          } finally {
            channel.close();
          }
        })();
        churning.add(task);
        void task.finally(() => churning.delete(task));
      }, 100);

      // Bounded in time as well; on 2 cores 100,000 calls take 30-45 s.
      const load = startLoad(client, {
        concurrency: 64,
        maxCalls: CALLS,
        maxMs: 55_000,
        onEnd: (n) => {
          if (n % 3 === 0) changeWeights();
        },
      });
      const describeLoad = () => `issued ${load.issued()}, ended ${load.ended()}`;
      try {
        await within(load.done, 60_000, describeLoad);
      } finally {
        clearInterval(weightTimer);
        clearInterval(churnTimer);
      }
      await within(Promise.all(churning), 10_000, () => `${churning.size} channels still calling`);
      const elapsedMs = performance.now() - started;

      const stats = split.stats();
      client.close();
      split.close();
      const calls = load.issued() + churnCalls;
      t.diagnostic(
        `${load.issued()} load calls + ${churnCalls} calls on ${churnChannels} ` +
          `short-lived channels in ${Math.round(elapsedMs)} ms ` +
          `(${Math.round((calls / elapsedMs) * 1000)}/s), ${weightChanges} weight changes ` +
          `(${Math.round((weightChanges / elapsedMs) * 1000)}/s); v1 ${stats.subsets['v1']!.finished}, ` +
          `v2 ${stats.subsets['v2']!.finished}`,
      );
      // The time bound is a safety net, not an assertion: a slower machine makes fewer calls.
      if (load.issued() < CALLS)
        t.diagnostic(`the time bound stopped the load after ${load.issued()} of ${CALLS} calls`);
      assert.ok(load.issued() >= 10_000, `${load.issued()} calls`);
      assert.equal(load.ended(), load.issued());
      assert.equal(load.extraCallbacks(), 0);
      assert.deepEqual(load.failures, []);
      assert.deepEqual(churnErrors, []);
      assert.ok(churnChannels >= 10, `${churnChannels} channels churned`);
      assert.ok(weightChanges >= load.issued() / 3, `${weightChanges} weight changes`);
      const finished = stats.subsets['v1']!.finished + stats.subsets['v2']!.finished;
      assert.equal(finished, calls, 'finished calls counted');
      assert.equal(stats.subsets['v1']!.started + stats.subsets['v2']!.started, calls, 'started calls counted');
      assert.equal(stats.subsets['v1']!.inFlight + stats.subsets['v2']!.inFlight, 0);
      assert.deepEqual(stats.subsets['v1']!.codes, { OK: stats.subsets['v1']!.finished });
      assert.deepEqual(stats.subsets['v2']!.codes, { OK: stats.subsets['v2']!.finished });
      assert.equal(
        [...load.servers.values()].reduce((a, b) => a + b, 0),
        load.issued(),
      );

      // Sockets close asynchronously after close(): poll until the handles are back to baseline.
      await eventually(
        () => diffResources(baseline, activeResources()) === '',
        () => diffResources(baseline, activeResources()),
        10_000,
      );
    },
  );
});

/**
 * A subset's server dies under load (SIGKILL of its process) and comes back on the same port,
 * while the weights flip every 5 ms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../../src/index.js';
import { startChildServer } from '../helpers/child-server.js';
import { echoClient } from '../helpers/echo-service.js';
import { startLoad, within, type Load } from '../helpers/load.js';
import { connect, eventually, waitForSubsetsReady } from '../helpers/split-helpers.js';

const DEADLINE_MS = 5_000;
const FLIP = [
  { v1: 40, v2: 60 },
  { v1: 60, v2: 40 },
];

describe('a subset server killed under load', () => {
  it('fails only calls in flight on it, ends every call exactly once, and gives it its share back after a restart', async (t) => {
    const v1 = await startChildServer('v1');
    const v2 = await startChildServer('v2');
    let v2Again: Awaited<ReturnType<typeof startChildServer>> | null = null;
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 50, v2: 50 } });
    // Short reconnect backoffs so that "a few backoffs" is well under a second.
    const client = echoClient(split.target, {
      ...split.channelOptions,
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 200,
    });
    let flips: NodeJS.Timeout | undefined;
    let load: Load | undefined;
    t.after(async () => {
      load?.stop(); // a failed test must not leave its load running
      clearInterval(flips);
      client.close();
      split.close();
      await Promise.all([v1.kill(), v2.kill(), v2Again?.kill()]);
    });
    connect(client);
    await waitForSubsetsReady(split);

    let flip = 0;
    let flippedAt = performance.now();
    const flipWeights = () => {
      if (split.closed) return; // the test failed and t.after() closed it: let the load drain
      split.setWeights(FLIP[flip++ % 2]!);
      flippedAt = performance.now();
    };
    // A 5 ms interval fires late on a loop this busy, so the weights also flip when a call ends
    // 5 ms or more after the last flip.
    flips = setInterval(flipWeights, 5);
    load = startLoad(client, {
      concurrency: 16,
      maxCalls: 500_000,
      maxMs: 40_000,
      deadlineMs: DEADLINE_MS,
      onEnd: () => {
        if (performance.now() - flippedAt >= 5) flipWeights();
      },
    });
    const describeLoad = () =>
      `issued ${load.issued()}, ended ${load.ended()}, failures ${JSON.stringify(load.failures.slice(0, 5))}`;
    await eventually(() => load.ended() >= 2_000, describeLoad, 20_000);

    // The calls that can fail are the ones on v2's connection when the channel sees it drop,
    // which it does (transport disconnect -> subchannel leaves READY) before it fails them.
    let inFlightAtLoss = -1;
    const onState = ({ subset, state }: { subset: string; state: string }) => {
      if (subset === 'v2' && state !== 'READY' && inFlightAtLoss < 0)
        inFlightAtLoss = split.stats().subsets['v2']!.inFlight;
    };
    split.on('subsetState', onState);
    const beforeKill = split.mark();
    const inFlightAtKill = split.stats().subsets['v2']!.inFlight;
    await v2.kill();
    await eventually(
      () => inFlightAtLoss >= 0,
      () => `v2 still ${split.stats().subsets['v2']!.state}`,
      10_000,
    );
    split.off('subsetState', onState);

    // While it is down, new calls only go to v1 and succeed.
    const downMark = split.mark();
    const endedAtLoss = load.ended();
    await eventually(() => load.ended() >= endedAtLoss + 1_000, describeLoad, 20_000);
    const whileDown = split.stats({ since: downMark });

    v2Again = await startChildServer('v2', v2.port);
    await waitForSubsetsReady(split, ['v2'], 10_000);
    const backMark = split.mark();
    const finishedSince = () => {
      const s = split.stats({ since: backMark }).subsets;
      return s['v1']!.finished + s['v2']!.finished;
    };
    await eventually(() => finishedSince() >= 2_000, describeLoad, 20_000);
    const afterRestart = split.stats({ since: backMark });
    load.stop();
    await within(load.done, DEADLINE_MS + 5_000, describeLoad);
    clearInterval(flips);

    const total = split.stats({ since: beforeKill });
    const failedOnV2 = Object.entries(total.subsets['v2']!.codes).filter(([code]) => code !== 'OK');
    t.diagnostic(
      `calls ${load.issued()}, weight flips ${flip}, failures ${load.failures.length} ` +
        `(v2 in flight at kill ${inFlightAtKill}, at loss ${inFlightAtLoss}), ` +
        `while down v1 ${whileDown.subsets['v1']!.finished} v2 ${whileDown.subsets['v2']!.finished}, ` +
        `after restart v1 ${afterRestart.subsets['v1']!.finished} v2 ${afterRestart.subsets['v2']!.finished}, ` +
        `failure details ${JSON.stringify([...new Set(load.failures.map((f) => f.details))])}`,
    );

    // Every call ended, exactly once.
    assert.equal(load.ended(), load.issued(), 'every call ended');
    assert.equal(load.extraCallbacks(), 0, 'no call ended twice');
    // Only transport failures, all of calls that were on v2's dead connection.
    assert.deepEqual(
      [...new Set(load.failures.map((f) => grpc.status[f.code]))].filter((c) => c !== 'UNAVAILABLE'),
      [],
    );
    assert.ok(
      load.failures.length <= inFlightAtLoss,
      `${load.failures.length} failures > ${inFlightAtLoss} calls in flight on v2`,
    );
    assert.deepEqual(Object.keys(total.subsets['v1']!.codes), ['OK'], 'no call on v1 failed');
    assert.deepEqual(
      failedOnV2,
      load.failures.length === 0 ? [] : [['UNAVAILABLE', load.failures.length]],
      'the failures are the v2 calls',
    );
    // While v2 was down, v1 took every call.
    assert.equal(whileDown.subsets['v2']!.started, 0);
    assert.deepEqual(whileDown.subsets['v1']!.codes, { OK: whileDown.subsets['v1']!.finished });
    // Back: its share again. The weights alternate 40/60 and 60/40, and each 5 ms period is
    // exact, so any stretch of calls gives v2 between 40% and 60% (plus the calls that straddle
    // the mark).
    const back = afterRestart.subsets;
    const backTotal = back['v1']!.finished + back['v2']!.finished;
    assert.deepEqual(back['v2']!.codes, { OK: back['v2']!.finished });
    assert.deepEqual(back['v1']!.codes, { OK: back['v1']!.finished });
    assert.ok(
      back['v2']!.finished >= 0.4 * backTotal - 16 && back['v2']!.finished <= 0.6 * backTotal + 16,
      `v2 ${back['v2']!.finished} of ${backTotal}`,
    );
  });
});

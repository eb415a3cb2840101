/**
 * Channels that go IDLE: grpc-js destroys the policy after `grpc.client_idle_timeout_ms` without
 * calls and builds a new one from the same resolver on the next call. The split must come back
 * with its live state, and a split closed meanwhile must fail calls at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { TrafficSplitResolver } from '../src/policy/balancer/resolver.js';
import { callEcho, echoClient, type EchoClientInstance } from './helpers/echo-service.js';
import { countOf, maxWindowDeviation } from './helpers/sequences.js';
import { startServer } from './helpers/servers.js';
import { connect, waitForSubsetsReady } from './helpers/split-helpers.js';

/** grpc-js's smallest accepted idle timeout (internal-channel MIN_IDLE_TIMEOUT_MS). */
const IDLE_TIMEOUT_MS = 1_000;
const IDLE_OPTIONS = { 'grpc.client_idle_timeout_ms': IDLE_TIMEOUT_MS };

/** Resolves once the client's channel reports IDLE, observed through connectivity events. */
async function waitForIdle(client: grpc.Client, timeoutMs = 20_000): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + timeoutMs;
  let state = channel.getConnectivityState(false);
  while (state !== grpc.connectivityState.IDLE) {
    await new Promise<void>((resolve, reject) =>
      channel.watchConnectivityState(state, deadline, (error) =>
        error ? reject(new Error(`channel still ${grpc.connectivityState[state]} after ${timeoutMs} ms`)) : resolve(),
      ),
    );
    state = channel.getConnectivityState(false);
  }
}

type Outcome = { code: string; details: string; ms: number };

/** One call that records how it ended instead of throwing. */
function outcome(
  client: EchoClientInstance,
  options: grpc.CallOptions,
  metadata = new grpc.Metadata(),
): Promise<Outcome> {
  const start = performance.now();
  return callEcho(client, {}, metadata, options).then(
    () => ({ code: 'OK', details: '', ms: performance.now() - start }),
    (error: grpc.ServiceError) => ({
      code: grpc.status[error.code]!,
      details: error.details,
      ms: performance.now() - start,
    }),
  );
}

async function sequentialServers(client: EchoClientInstance, calls: number): Promise<string[]> {
  const servers: string[] = [];
  for (let i = 0; i < calls; i++)
    servers.push((await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 10_000 })).server);
  return servers;
}

/** The `traffic_split` entry the split's resolver reports now (delivered on the next tick). */
async function reportedPolicyConfig(split: TrafficSplit): Promise<object> {
  let reported: object | undefined;
  const listener = ((_endpoints, _attributes, serviceConfig) => {
    if (serviceConfig?.ok) reported = serviceConfig.value.loadBalancingConfig[0];
    return true;
  }) as grpc.experimental.ResolverListener;
  const resolver = new TrafficSplitResolver(
    { scheme: 'traffic-split', path: split.target.slice('traffic-split:///'.length) },
    listener,
    {},
  );
  resolver.updateResolution();
  await new Promise((resolve) => process.nextTick(resolve));
  resolver.destroy();
  assert.ok(reported !== undefined, 'the resolver reported a service config');
  return reported;
}

describe('idle channels', () => {
  it('comes back after each of two idle periods with its weights, exact split and counters, like a plain channel', async (t) => {
    const v1 = await startServer('v1');
    const v2 = await startServer('v2');
    const split = new TrafficSplit({
      name: 'idle',
      subsets: { v1: v1.target, v2: v2.target },
      weights: { v1: 75, v2: 25 },
    });
    const client = echoClient(split.target, { ...split.channelOptions, ...IDLE_OPTIONS });
    const plain = echoClient(v1.target, IDLE_OPTIONS);
    t.after(async () => {
      client.close();
      plain.close();
      split.close();
      await Promise.all([v1.kill(), v2.kill()]);
    });
    // One policy config per split, handed to grpc-js on every resolution (each idle period ends
    // with one): grpc-js must find it as it was, whatever it did with it before.
    const policyConfig = await reportedPolicyConfig(split);
    const policyConfigJson = JSON.stringify(policyConfig);
    assert.doesNotMatch(policyConfigJson, /"weights"/, 'the weights are read from the split, never from the config');
    connect(client);
    await waitForSubsetsReady(split);

    const CALLS = 200;
    let measured = await sequentialServers(client, CALLS);
    assert.ok(maxWindowDeviation(measured, { v1: 75, v2: 25 }, 100) < 2);
    assert.ok(maxWindowDeviation(measured, { v1: 75, v2: 25 }, CALLS) < 2, JSON.stringify(countOf(measured)));
    assert.equal((await callEcho(plain)).server, 'v1');
    // Routes armed before the idle periods keep working after them.
    const routed = () =>
      callEcho(client, {}, new grpc.Metadata(), { ...split.route({ subset: 'v2' }), deadline: Date.now() + 10_000 });
    assert.equal((await routed()).server, 'v2');
    let total = CALLS + 1;

    const cycles: {
      weights: Record<string, number>;
      first: Outcome;
      plainFirst: Outcome;
      counts: Record<string, number>;
      deviation: number;
    }[] = [];
    for (const weights of [
      { v1: 75, v2: 25 },
      { v1: 25, v2: 75 },
    ]) {
      await Promise.all([waitForIdle(client), waitForIdle(plain)]);
      // While IDLE grpc-js has destroyed the policy: the split has no channel of its own.
      assert.equal(split.stats().channels, 0, 'no policy while IDLE');
      split.setWeights(weights);
      const [first, plainFirst] = await Promise.all([
        outcome(client, { deadline: Date.now() + 10_000 }),
        outcome(plain, { deadline: Date.now() + 10_000 }),
      ]);
      total += 1;
      // The first call goes to whichever subset is READY first; measure once both are.
      await waitForSubsetsReady(split);
      measured = await sequentialServers(client, CALLS);
      total += CALLS;
      cycles.push({
        weights,
        first,
        plainFirst,
        counts: countOf(measured),
        deviation: maxWindowDeviation(measured, weights, 100),
      });
      assert.equal((await routed()).server, 'v2');
      total += 1;
      assert.deepEqual(split.getWeights(), weights);
      assert.equal(split.stats().channels, 1, 'one policy after coming back, not two');
    }
    t.diagnostic(JSON.stringify(cycles));
    const after = await reportedPolicyConfig(split);
    assert.equal(after, policyConfig, 'the same object on every resolution');
    assert.equal(JSON.stringify(after), policyConfigJson, 'left unchanged by three resolutions and two policies');
    for (const cycle of cycles) {
      assert.deepEqual([cycle.first.code, cycle.first.details], ['OK', ''], 'the first call after IDLE is served');
      assert.deepEqual(
        [cycle.plainFirst.code, cycle.plainFirst.details],
        ['OK', ''],
        'the plain channel comes back too',
      );
      // Within 1 of 150/50 (or 50/150) over the 200 calls, and the same in every window of 100.
      for (const [name, weight] of Object.entries(cycle.weights)) {
        assert.ok(
          Math.abs(cycle.counts[name]! - (CALLS * weight) / 100) < 2,
          `${name}: ${cycle.counts[name]} of ${CALLS}`,
        );
      }
      assert.ok(cycle.deviation < 2, `every window of 100 within 1 call: ${cycle.deviation}`);
    }
    // The counters carried on across both idle periods: nothing lost, nothing reset.
    const stats = split.stats();
    assert.equal(stats.subsets['v1']!.finished + stats.subsets['v2']!.finished, total);
    assert.equal(stats.subsets['v1']!.codes.OK! + stats.subsets['v2']!.codes.OK!, total);
  });

  it('fails calls at once, wait-for-ready included, when the split was closed while its channel was IDLE', async (t) => {
    const v1 = await startServer('v1');
    const split = new TrafficSplit({ name: 'closed-idle', subsets: { v1: v1.target }, weights: { v1: 1 } });
    const client = echoClient(split.target, { ...split.channelOptions, ...IDLE_OPTIONS });
    t.after(async () => {
      client.close();
      split.close();
      await v1.kill();
    });
    assert.equal((await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 10_000 })).server, 'v1');
    await waitForIdle(client);
    split.close();
    // Generous deadlines: a call that waited for them would end DEADLINE_EXCEEDED.
    const [plainCall, waiting] = await Promise.all([
      outcome(client, { deadline: Date.now() + 30_000 }),
      outcome(client, { deadline: Date.now() + 30_000 }, new grpc.Metadata({ waitForReady: true })),
    ]);
    t.diagnostic(JSON.stringify({ plainCall, waiting }));
    const closed = 'traffic_split: split "closed-idle" is closed';
    assert.deepEqual([plainCall.code, plainCall.details], ['UNAVAILABLE', closed]);
    assert.deepEqual([waiting.code, waiting.details], ['UNAVAILABLE', closed]);
    // And after one more idle period (the resolver is reused again), still at once.
    await waitForIdle(client);
    const again = await outcome(client, { deadline: Date.now() + 30_000 }, new grpc.Metadata({ waitForReady: true }));
    assert.deepEqual([again.code, again.details], ['UNAVAILABLE', closed]);
  });

  it(
    'resolves again after destroy(), as grpc-js expects of a ' +
      'resolver it reuses, and drops a result scheduled before it',
    async (t) => {
      const split = new TrafficSplit({ name: 'contract', subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
      t.after(() => split.close());
      const results: string[] = [];
      const listener = ((endpoints, _attributes, serviceConfig) => {
        results.push(
          `${endpoints.ok} ${serviceConfig?.ok ? Object.keys(serviceConfig.value.loadBalancingConfig[0]!)[0] : 'none'}`,
        );
        return true;
      }) as grpc.experimental.ResolverListener;
      const uri = { scheme: 'traffic-split', path: split.target.slice('traffic-split:///'.length) };
      const resolver = new TrafficSplitResolver(uri, listener, {});
      const tick = () => new Promise((resolve) => process.nextTick(resolve));
      resolver.updateResolution();
      resolver.destroy();
      await tick();
      assert.deepEqual(results, [], 'a result scheduled before destroy() is dropped');
      for (let round = 1; round <= 2; round++) {
        resolver.updateResolution();
        await tick();
        assert.equal(results.length, round);
        resolver.destroy();
      }
      assert.deepEqual(results, ['true traffic_split', 'true traffic_split']);
      assert.equal(TrafficSplitResolver.getDefaultAuthority(uri), '127.0.0.1:1');
      split.close();
      assert.equal(
        TrafficSplitResolver.getDefaultAuthority(uri),
        '127.0.0.1:1',
        'kept after close(): grpc-js asks on every connect',
      );
    },
  );
});

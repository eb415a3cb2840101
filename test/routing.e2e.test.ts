import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { callEcho } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';
import { eventually } from './helpers/split-helpers.js';
import { DROPPED_CALL_STATUS } from './helpers/grpc-behaviour.js';

const withHeader = (key: string, value: string) => {
  const metadata = new grpc.Metadata();
  metadata.set(key, value);
  return metadata;
};

describe('per-call routing', () => {
  it('sends every call with a sticky key to subsetFor(key)', async (t) => {
    const { client, split } = await rig(t, { v1: 50, v2: 50 }, { stickyKey: 'x-user-id' });
    for (let i = 0; i < 200; i++) {
      const key = `user-${i}`;
      const reply = await callEcho(client, {}, withHeader('x-user-id', key));
      assert.equal(reply.server, split.subsetFor(key), key);
    }
  });

  it('maps 1,000 keys identically in a second process', async () => {
    const names = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2', v3: 'ipv4:127.0.0.1:3' };
    const weights = { v1: 70, v2: 20, v3: 10 };
    const split = new TrafficSplit({ subsets: names, weights });
    const keys = Array.from({ length: 1_000 }, (_, i) => `key-${i}`);
    const here = keys.map((k) => split.subsetFor(k));
    split.close();
    const index = fileURLToPath(new URL('../src/index.js', import.meta.url));
    const script = `import(${JSON.stringify(index)}).then(({ TrafficSplit }) => {
      const s = new TrafficSplit(${JSON.stringify({ subsets: names, weights })});
      process.stdout.write(JSON.stringify(${JSON.stringify(keys)}.map((k) => s.subsetFor(k))));
      s.close();
    });`;
    const there = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    ) as string[];
    assert.deepEqual(there, here);
    assert.deepEqual(new Set(here), new Set(['v1', 'v2', 'v3']));
  });

  it('routes calls matching a header rule to v2 even at weight 0', async (t) => {
    const { client } = await rig(
      t,
      { v1: 50, v2: 0 },
      { rules: [{ header: 'x-canary', equals: 'always', subset: 'v2' }] },
    );
    for (let i = 0; i < 50; i++)
      assert.equal((await callEcho(client, {}, withHeader('x-canary', 'always'))).server, 'v2');
    assert.equal((await callEcho(client)).server, 'v1');
    assert.equal((await callEcho(client, {}, withHeader('x-canary', 'sometimes'))).server, 'v1');
  });

  it('pins a call with route({ subset }) and shows the server no routing metadata', async (t) => {
    const { client, split } = await rig(t, { v1: 0, v2: 100 });
    const plain = await callEcho(client);
    const routed = await callEcho(client, {}, new grpc.Metadata(), split.route({ subset: 'v1' }));
    const keyed = await callEcho(client, {}, new grpc.Metadata(), split.route({ key: 'user-7' }));
    assert.equal(plain.server, 'v2');
    assert.equal(routed.server, 'v1');
    assert.equal(keyed.server, split.subsetFor('user-7'));
    assert.deepEqual(routed.metadataKeys, plain.metadataKeys);
    assert.deepEqual(keyed.metadataKeys, plain.metadataKeys);
  });

  it('ignores a forged routing header that lacks the split token, and strips it', async (t) => {
    const { client, split } = await rig(t, { v1: 0, v2: 100 });
    split.route({ subset: 'v1' }); // hints are now looked for on every call
    const reply = await callEcho(client, {}, withHeader('x-traffic-split', 'forged-token;s=v1'));
    assert.equal(reply.server, 'v2');
    assert.ok(!reply.metadataKeys!.includes('x-traffic-split'));
  });

  it('fails an explicit route to a stopped subset with UNAVAILABLE naming it, within a 3 s deadline', async (t) => {
    const { client, split, v2 } = await rig(t, { v1: 50, v2: 50 });
    await v2.kill();
    await eventually(
      () => split.stats().subsets['v2']!.state === 'TRANSIENT_FAILURE',
      () => JSON.stringify(split.stats().subsets['v2']),
      10_000,
    );
    const error = await callEcho(client, {}, new grpc.Metadata(), {
      ...split.route({ subset: 'v2' }),
      deadline: Date.now() + 3_000,
    }).then(
      () => assert.fail('call succeeded'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.match(error.details, /^traffic_split: subset "v2" has no READY endpoints \(TRANSIENT_FAILURE\)/);
  });

  it('rejects bad route() input and bad routing options, naming the field', () => {
    const split = new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
    assert.throws(() => split.route({ subset: 'v9' }), {
      message: 'route.subset: expected one of the subsets v1, got `"v9"` (string)',
    });
    assert.throws(() => split.route({} as never), {
      message: 'route: expected exactly one of "subset" and "key", got `{}` (object)',
    });
    split.close();
    const base = { subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } };
    assert.throws(() => new TrafficSplit({ ...base, stickyKey: 'X-User' }), {
      message: /^stickyKey: expected a lower-case metadata key/,
    });
    assert.throws(() => new TrafficSplit({ ...base, rules: [{ header: 'x-canary', subset: 'v1' }] }), {
      message: 'rules[0]: expected exactly one of equals, prefix, regex, got none',
    });
    assert.throws(() => new TrafficSplit({ ...base, rules: [{ header: 'x-canary', equals: 'a', subset: 'v2' }] }), {
      message: 'rules[0].subset: expected one of the subsets v1, got `"v2"` (string)',
    });
    assert.throws(() => new TrafficSplit({ ...base, rules: [{ header: 'x-canary', regex: '(', subset: 'v1' }] }), {
      message: /^rules\[0\]\.regex: expected a valid regular expression/,
    });
  });

  it('reports finished calls, codes and latency per subset, over the lifetime and since a mark', async (t) => {
    const { client, split } = await rig(t, { v1: 1, v2: 1 });
    for (let i = 0; i < 10; i++) await callEcho(client);
    const mark = split.mark();
    for (let i = 0; i < 4; i++) await callEcho(client, { failWith: grpc.status.INTERNAL }).catch(() => undefined);
    const lifetime = split.stats();
    const recent = split.stats({ since: mark });
    assert.deepEqual(lifetime.subsets['v1']!.codes, { OK: 5, INTERNAL: 2 });
    assert.deepEqual(recent.subsets['v1']!.codes, { INTERNAL: 2 });
    assert.equal(recent.subsets['v1']!.finished + recent.subsets['v2']!.finished, 4);
    assert.equal(lifetime.subsets['v1']!.inFlight, 0);
    assert.ok(lifetime.subsets['v1']!.latencyMs.p50! > 0);
    assert.ok(lifetime.subsets['v1']!.latencyMs.p99! >= lifetime.subsets['v1']!.latencyMs.p50!);
  });

  for (const retryOnOtherSubset of [true, false]) {
    it(
      `${retryOnOtherSubset ? 'retries' : 'does not retry'} unary calls cut off on a ` +
        `dying subset ${retryOnOtherSubset ? 'once on another subset' : 'without the option'}`,
      async (t) => {
        const { client, split, v2 } = await rig(t, { v1: 50, v2: 50 }, { retryOnOtherSubset });
        const request = { slowServer: 'v2', delayMs: 20_000 };
        const calls = Array.from({ length: 10 }, () =>
          callEcho(client, request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }).then(
            (reply) => reply.server,
            (error: grpc.ServiceError) => `failed ${grpc.status[error.code]}`,
          ),
        );
        await eventually(
          () => split.stats().subsets['v2']!.inFlight === 5,
          () => JSON.stringify(split.stats().subsets['v2']),
        );
        await v2.kill();
        const outcomes = (await Promise.all(calls)).sort();
        const stats = split.stats();
        assert.deepEqual(stats.subsets['v2']!.codes, { [DROPPED_CALL_STATUS]: 5 });
        // Only UNAVAILABLE is retried; grpc-js before 1.12 reports a dropped connection as CANCELLED.
        if (retryOnOtherSubset && DROPPED_CALL_STATUS === 'UNAVAILABLE') {
          assert.deepEqual(outcomes, Array(10).fill('v1'));
          assert.deepEqual(stats.subsets['v1']!.codes, { OK: 10 });
        } else {
          assert.deepEqual(outcomes, [...Array(5).fill(`failed ${DROPPED_CALL_STATUS}`), ...Array(5).fill('v1')]);
          assert.deepEqual(stats.subsets['v1']!.codes, { OK: 5 });
        }
      },
    );
  }

  it('never retries an explicitly routed call elsewhere', async (t) => {
    const { client, split, v2 } = await rig(t, { v1: 50, v2: 50 }, { retryOnOtherSubset: true });
    const call = callEcho(client, { slowServer: 'v2', delayMs: 20_000 }, new grpc.Metadata(), {
      ...split.route({ subset: 'v2' }),
      deadline: Date.now() + 10_000,
    }).then(
      () => 'succeeded',
      (error: grpc.ServiceError) => grpc.status[error.code],
    );
    await eventually(
      () => split.stats().subsets['v2']!.inFlight === 1,
      () => JSON.stringify(split.stats().subsets['v2']),
    );
    await v2.kill();
    assert.equal(await call, DROPPED_CALL_STATUS);
    assert.equal(split.stats().subsets['v1']!.started, 0);
  });
});

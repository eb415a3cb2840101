import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../../src/index.js';
import { callEcho, echoClient, type EchoClientInstance } from '../helpers/echo-service.js';
import { rig } from '../helpers/rig.js';
import { startServer } from '../helpers/servers.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from '../helpers/split-helpers.js';

const CALL_DEADLINE_MS = 10_000;

async function serverOf(client: EchoClientInstance): Promise<string> {
  return (await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS })).server;
}

/** Ten unary methods, each answering with the server's name: a request handler's fixed call order. */
const METHOD_COUNT = 10;
const methodService: grpc.ServiceDefinition = Object.fromEntries(
  Array.from({ length: METHOD_COUNT }, (_, k) => [
    `m${k}`,
    {
      path: `/test.Methods/M${k}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
      requestDeserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
      responseSerialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
      responseDeserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
    },
  ]),
);
const MethodClient = grpc.makeGenericClientConstructor(methodService, 'test.Methods');

async function startMethodServer(name: string): Promise<{ target: string; stop: () => void }> {
  const server = new grpc.Server();
  const handlers = Object.fromEntries(
    Array.from({ length: METHOD_COUNT }, (_, k) => [
      `m${k}`,
      (_call: unknown, callback: grpc.sendUnaryData<{ server: string }>) => callback(null, { server: name }),
    ]),
  );
  server.addService(methodService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { target: `ipv4:127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

// Each test owns its servers and split and makes its calls one at a time: they run side by side.
describe('the schedule across weight changes, replicas and periodic callers', { concurrency: true }, () => {
  for (const every of [1, 3, 5]) {
    it(
      `keeps v2 within 4 of its summed shares over 1,200 calls ` +
        `with 90/10 and 89/11 alternating every ${every} call(s)`,
      async (t) => {
        const { client, split } = await rig(t, { v1: 90, v2: 10 });
        let v2 = 0;
        let ideal = 0;
        for (let call = 0; call < 1200; call++) {
          const weights = Math.floor(call / every) % 2 === 0 ? { v1: 90, v2: 10 } : { v1: 89, v2: 11 };
          if (call % every === 0) split.setWeights(weights);
          ideal += weights.v2 / 100;
          if ((await serverOf(client)) === 'v2') v2++;
        }
        t.diagnostic(`every ${every}: v2 ${v2}, summed shares ${ideal.toFixed(2)}`);
        assert.ok(Math.abs(v2 - ideal) <= 4, `v2 got ${v2} calls, the summed shares are ${ideal.toFixed(2)}`);
        assert.equal(split.stats().subsets['v2']!.finished, v2);
      },
    );
  }

  it(
    'does not move twenty replicas in lockstep: twenty fresh ' +
      'splits at 99/1 send at most 5 of their first 60 calls to v2',
    async (t) => {
      const v1 = await startServer('v1');
      const v2 = await startServer('v2');
      // Default seeds, as replicas get them: the OS's random source.
      const splits = Array.from(
        { length: 20 },
        () => new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 99, v2: 1 } }),
      );
      const clients = splits.map((split) => echoClient(split.target, split.channelOptions));
      t.after(async () => {
        for (const client of clients) client.close();
        for (const split of splits) split.close();
        await Promise.all([v1.kill(), v2.kill()]);
      });
      connect(...clients);
      for (const split of splits) await waitForSubsetsReady(split, split.subsets, CALL_DEADLINE_MS);
      let toV2 = 0;
      for (const client of clients) for (let call = 0; call < 3; call++) if ((await serverOf(client)) === 'v2') toV2++;
      t.diagnostic(`replicas: ${toV2} of 60 calls to v2`);
      assert.ok(toV2 <= 5, `${toV2} of 60 calls went to v2`);
    },
  );

  it('gives each of ten clients used in strict rotation its share of v2 at 90/10 over 3,000 calls', async (t) => {
    const { client, split } = await rig(t, { v1: 90, v2: 10 }, { scheduleSeed: 20261129 });
    const clients = [client, ...Array.from({ length: 9 }, () => echoClient(split.target, split.channelOptions))];
    t.after(() => clients.slice(1).forEach((c) => c.close()));
    connect(...clients);
    await eventually(
      () => split.stats().channels === 10,
      () => `${split.stats().channels} channels`,
      CALL_DEADLINE_MS,
    );
    await waitForSubsetsReady(split, split.subsets, CALL_DEADLINE_MS);
    const perClient = new Array<number>(10).fill(0);
    for (let call = 0; call < 3000; call++)
      if ((await serverOf(clients[call % 10]!)) === 'v2') perClient[call % 10]!++;
    const total = perClient.reduce((a, b) => a + b, 0);
    t.diagnostic(`rotation: v2 per client ${perClient.join(', ')} (of 300 each), total ${total}`);
    assert.ok(Math.abs(total - 300) < 2, `v2 got ${total} of 3000`);
    for (const [k, count] of perClient.entries())
      assert.ok(count >= 9 && count <= 51, `client ${k}: ${count} of 300 to v2 (all: ${perClient.join(', ')})`);
  });

  it(
    'gives every client of a rotating pool its share of three subsets ' +
      'at 60/30/10: pools of 10, 2, 4, 5 and 16 clients, 2,000 calls each',
    async (t) => {
      const servers = await Promise.all(['v1', 'v2', 'v3'].map((name) => startServer(name)));
      const split = new TrafficSplit({
        subsets: Object.fromEntries(servers.map((s) => [s.name, s.target])),
        weights: { v1: 60, v2: 30, v3: 10 },
        scheduleSeed: 20261206,
      });
      const clients = Array.from({ length: 16 }, () => echoClient(split.target, split.channelOptions));
      closeAfter(t, ...clients, split, ...servers);
      connect(...clients);
      await eventually(
        () => split.stats().channels === 16,
        () => `${split.stats().channels} channels`,
        CALL_DEADLINE_MS,
      );
      await waitForSubsetsReady(split, split.subsets, CALL_DEADLINE_MS);
      for (const pool of [10, 2, 4, 5, 16]) {
        // perClient[k][subset]: calls of client k served by each subset.
        const perClient = Array.from({ length: pool }, () => ({ v1: 0, v2: 0, v3: 0 }) as Record<string, number>);
        for (let call = 0; call < 2000; call++) perClient[call % pool]![await serverOf(clients[call % pool]!)]!++;
        const calls = 2000 / pool;
        const v3 = perClient.map((c) => c['v3']! / calls);
        t.diagnostic(
          `pool ${pool}: v2 per client ${perClient.map((c) => c['v2']).join(', ')}; v3 ` +
            `per client ${perClient.map((c) => c['v3']).join(', ')} (of ${calls} each)`,
        );
        if (pool === 10)
          for (const [k, share] of v3.entries())
            assert.ok(
              share >= 0.03 && share <= 0.2,
              `pool 10, client ${k}: ${share} of its calls to v3 (all: ${v3.join(', ')})`,
            );
        for (const [k, counts] of perClient.entries())
          assert.ok(
            counts['v2']! > 0 && counts['v3']! > 0,
            `pool ${pool}, client ${k}: v2 ${counts['v2']}, v3 ${counts['v3']}`,
          );
      }
      assert.equal(
        split.stats().subsets['v3']!.finished +
          split.stats().subsets['v2']!.finished +
          split.stats().subsets['v1']!.finished,
        10_000,
      );
    },
  );

  it('gives each of ten methods called in a fixed order per request its share of v2 at 90/10 over 500 requests', async (t) => {
    const v1 = await startMethodServer('v1');
    const v2 = await startMethodServer('v2');
    const split = new TrafficSplit({
      subsets: { v1: v1.target, v2: v2.target },
      weights: { v1: 90, v2: 10 },
      scheduleSeed: 7,
    });
    const client = new MethodClient(split.target, grpc.credentials.createInsecure(), split.channelOptions);
    t.after(() => {
      client.close();
      split.close();
      v1.stop();
      v2.stop();
    });
    connect(client);
    await waitForSubsetsReady(split, split.subsets, CALL_DEADLINE_MS);
    const call = (k: number) =>
      new Promise<string>((resolve, reject) => {
        (client as unknown as Record<string, (...args: unknown[]) => unknown>)[`m${k}`]!.call(
          client,
          {},
          new grpc.Metadata(),
          { deadline: Date.now() + CALL_DEADLINE_MS },
          (error: Error | null, reply: { server: string }) => (error ? reject(error) : resolve(reply.server)),
        );
      });
    const perMethod = new Array<number>(METHOD_COUNT).fill(0);
    for (let request = 0; request < 500; request++) {
      for (let k = 0; k < METHOD_COUNT; k++) if ((await call(k)) === 'v2') perMethod[k]!++;
    }
    t.diagnostic(`methods: v2 per method ${perMethod.join(', ')} (of 500 each)`);
    assert.ok(Math.abs(perMethod.reduce((a, b) => a + b, 0) - 500) < 2, `total ${perMethod.join(', ')}`);
    for (const [k, count] of perMethod.entries())
      assert.ok(count >= 25 && count <= 75, `method M${k}: ${count} of 500 to v2 (all: ${perMethod.join(', ')})`);
  });
});

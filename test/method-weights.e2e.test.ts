import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { seededRandom } from '../src/algorithms/random.js';
import { jsonMethod } from './helpers/echo-service.js';
import { callShop, SHOP, type ShopUnaryMethod } from './helpers/shop-service.js';
import { shopRig as rig } from './helpers/shop-rig.js';

/** Seeded, so that the schedules' order (within their bound) is the same at every run. */
const shopRig = (t: TestContext, weights: Record<string, number>, extra: Partial<TrafficSplitOptions> = {}) =>
  rig(t, weights, { scheduleSeed: 7, ...extra });

const WRITE_ON_V1 = { [SHOP.write]: { v1: 100, v2: 0 } };

/** The largest gap, over every window of consecutive calls, between v2's count and `share` of the window. */
function worstWindowGap(servers: readonly string[], share: number): number {
  let worst = 0;
  for (let start = 0; start < servers.length; start++) {
    let v2 = 0;
    for (let end = start; end < servers.length; end++) {
      if (servers[end] === 'v2') v2++;
      worst = Math.max(worst, Math.abs(v2 - share * (end - start + 1)));
    }
  }
  return worst;
}

describe('method weights', () => {
  it('keeps Write on v1 while Read and List split 50/50 each, exactly, and follows a new override from the next call', async (t) => {
    const { split, client } = await shopRig(t, { v1: 50, v2: 50 }, { methodWeights: WRITE_ON_V1 });
    const random = seededRandom(2024);
    const methods: ShopUnaryMethod[] = ['read', 'write', 'list'];
    const seen: Record<ShopUnaryMethod, string[]> = { read: [], write: [], list: [] };
    for (let i = 0; i < 1_000; i++) {
      const method = methods[Math.floor(random() * 3)]!;
      seen[method].push((await callShop(client, method)).server);
    }
    assert.deepEqual(new Set(seen.write), new Set(['v1']), 'every Write on v1');
    assert.ok(seen.read.length > 250 && seen.list.length > 250);
    assert.ok(worstWindowGap(seen.read, 0.5) <= 2, `Read strays by ${worstWindowGap(seen.read, 0.5)}`);
    assert.ok(worstWindowGap(seen.list, 0.5) <= 2, `List strays by ${worstWindowGap(seen.list, 0.5)}`);
    assert.deepEqual(split.getWeights(SHOP.write), { v1: 100, v2: 0 });
    assert.deepEqual(split.getWeights(SHOP.read), { v1: 50, v2: 50 });

    split.setWeights({ v1: 50, v2: 50 }, { methods: { [SHOP.read]: { v1: 10, v2: 90 } } });
    assert.deepEqual(split.getMethodWeights(), { [SHOP.read]: { v1: 10, v2: 90 }, ...WRITE_ON_V1 });
    const reads: string[] = [];
    const writes: string[] = [];
    for (let i = 0; i < 10; i++) {
      reads.push((await callShop(client, 'read')).server);
      writes.push((await callShop(client, 'write')).server);
    }
    assert.ok(reads.filter((s) => s === 'v2').length >= 8, `next 10 Reads: ${reads.join(' ')}`);
    assert.deepEqual(new Set(writes), new Set(['v1']));
    assert.deepEqual(split.stats().methodWeights, split.getMethodWeights());
  });

  it('applies a service prefix to every method of the service, and the longest key wins', async (t) => {
    const { split, client } = await shopRig(
      t,
      { v1: 100, v2: 0 },
      { methodWeights: { '/shop.Store/': { v1: 0, v2: 100 }, [SHOP.list]: { v1: 100, v2: 0 } } },
    );
    for (let i = 0; i < 20; i++) {
      assert.equal((await callShop(client, 'read')).server, 'v2');
      assert.equal((await callShop(client, 'write')).server, 'v2');
      assert.equal((await callShop(client, 'list')).server, 'v1');
    }
    // Removing the prefix hands Read and Write back to the split's weights.
    split.setWeights({ v1: 100, v2: 0 }, { methods: { '/shop.Store/': null } });
    assert.equal((await callShop(client, 'read')).server, 'v1');
    assert.deepEqual(split.getMethodWeights(), { [SHOP.list]: { v1: 100, v2: 0 } });
  });

  it('hashes sticky keys against the weights of the call`s method, monotone per method', async (t) => {
    const { split, client } = await shopRig(
      t,
      { v1: 50, v2: 50 },
      { stickyKey: 'x-user', methodWeights: { [SHOP.read]: { v1: 50, v2: 50 }, ...WRITE_ON_V1 } },
    );
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    const metadataFor = (key: string) => {
      const metadata = new grpc.Metadata();
      metadata.set('x-user', key);
      return metadata;
    };
    const before = new Map<string, string>();
    for (const key of keys) {
      const read = (await callShop(client, 'read', {}, metadataFor(key))).server;
      assert.equal(read, split.subsetFor(key, SHOP.read));
      before.set(key, read);
      assert.equal((await callShop(client, 'write', {}, metadataFor(key))).server, 'v1');
    }
    assert.ok([...before.values()].includes('v1') && [...before.values()].includes('v2'));
    split.setWeights({ v1: 50, v2: 50 }, { methods: { [SHOP.read]: { v1: 10, v2: 90 } } });
    let moved = 0;
    for (const key of keys) {
      const read = (await callShop(client, 'read', {}, metadataFor(key))).server;
      assert.equal(read, split.subsetFor(key, SHOP.read));
      // Read's v2 weight rose: keys only move to v2.
      if (before.get(key) === 'v2') assert.equal(read, 'v2', key);
      if (read !== before.get(key)) moved++;
    }
    assert.ok(moved > 0, 'some keys moved to v2');
  });

  it('places a method`s streams by its override and counts them open on their subset', async (t) => {
    const { split, client } = await shopRig(
      t,
      { v1: 100, v2: 0 },
      { methodWeights: { [SHOP.watch]: { v1: 0, v2: 100 } } },
    );
    const streams = Array.from({ length: 6 }, () =>
      (client as unknown as { watch(r: object): grpc.ClientReadableStream<{ server: string }> }).watch({ count: 1 }),
    );
    const servers = await Promise.all(
      streams.map(
        (stream) =>
          new Promise<string>((resolve, reject) => {
            let server = '';
            stream.on('data', (reply: { server: string }) => (server = reply.server));
            stream.on('error', reject);
            stream.on('end', () => resolve(server));
          }),
      ),
    );
    assert.deepEqual(servers, Array(6).fill('v2'));
    assert.equal((await callShop(client, 'read')).server, 'v1');
    const stats = split.stats();
    assert.equal(stats.subsets['v2']!.started, 6);
    assert.equal(stats.subsets['v2']!.openStreams + stats.subsets['v1']!.openStreams, 0);
  });

  it('refuses bad method weights naming the field, leaving the weights and overrides in force', async () => {
    const split = new TrafficSplit({
      subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' },
      weights: { v1: 50, v2: 50 },
      methodWeights: WRITE_ON_V1,
    });
    try {
      assert.throws(
        () => split.setWeights({ v1: 1, v2: 0 }, { methods: { 'shop.Store/Read': { v1: 1, v2: 0 } } }),
        /options\.methods\["shop\.Store\/Read"\]: expected a full method name/,
      );
      assert.throws(
        () => split.setWeights({ v1: 1, v2: 0 }, { methods: { [SHOP.read]: { v1: 1 } } }),
        /options\.methods\["\/shop\.Store\/Read"\]\.v2: missing/,
      );
      assert.throws(
        () => split.setMethodWeights({ [SHOP.read]: { v1: 0, v2: 0 } }),
        /methods\["\/shop\.Store\/Read"\]: expected at least one weight > 0/,
      );
      assert.throws(
        () =>
          new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 }, methodWeights: [] as never }),
        /methodWeights: expected an object mapping method names/,
      );
      assert.deepEqual(split.getWeights(), { v1: 50, v2: 50 });
      assert.deepEqual(split.getMethodWeights(), WRITE_ON_V1);
      split.setMethodWeights({});
      assert.deepEqual(split.getMethodWeights(), {});
    } finally {
      split.close();
    }
  });
});

/** `gen.S` with `count` unary methods M0, M1, ...: each answers with the server's name. */
function genericService(count: number): grpc.ServiceDefinition {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`m${i}`, jsonMethod(`/gen.S/M${i}`)]));
}

async function genericServer(t: TestContext, name: string, service: grpc.ServiceDefinition): Promise<string> {
  const server = new grpc.Server();
  const reply: grpc.handleUnaryCall<unknown, unknown> = (_call, callback) => callback(null, { server: name });
  server.addService(service, Object.fromEntries(Object.keys(service).map((key) => [key, reply])));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  t.after(() => server.forceShutdown());
  return `ipv4:127.0.0.1:${port}`;
}

function genericCall(client: grpc.Client, path: string): Promise<string> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (value: unknown) => Buffer.from(JSON.stringify(value)),
      (bytes: Buffer) => JSON.parse(bytes.toString()) as { server: string },
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + 20_000 },
      (error, reply) => resolve(error ? `error ${error.code}` : reply!.server),
    );
  });
}

/** The largest gap, over every window of consecutive calls, between v2's count and the sum of
 * v2's shares in force at those calls. */
function worstGapOfShares(servers: readonly string[], shares: readonly number[]): number {
  let worst = 0;
  for (let start = 0; start < servers.length; start++) {
    let gap = 0;
    for (let end = start; end < servers.length; end++) {
      gap += (servers[end] === 'v2' ? 1 : 0) - shares[end]!;
      worst = Math.max(worst, Math.abs(gap));
    }
  }
  return Math.round(worst * 1000) / 1000;
}

describe('each method on its own plan, whatever the per-method figures', () => {
  const path = (i: number) => `/gen.S/M${i}`;
  const variants: [string, TrafficSplitOptions['methodFigures']][] = [
    ['on', undefined],
    ['off', false],
    ['with a limit of 1 (the others counted as `other`)', { limit: 1 }],
    ['declared only', { methods: [path(2), path(7)], limit: 0 }],
  ];
  for (const [name, methodFigures] of variants) {
    it(`keeps every method within 2 of its own shares, an override added and removed midway (figures ${name})`, async (t) => {
      const service = genericService(12);
      const split = new TrafficSplit({
        subsets: { v1: await genericServer(t, 'v1', service), v2: await genericServer(t, 'v2', service) },
        weights: { v1: 70, v2: 30 },
        methodWeights: { [path(0)]: { v1: 100, v2: 0 }, [path(1)]: { v1: 0, v2: 100 }, [path(2)]: { v1: 25, v2: 75 } },
        scheduleSeed: 5,
        ...(methodFigures === undefined ? {} : { methodFigures }),
      });
      t.after(() => split.close());
      const client = new grpc.Client(split.target, grpc.credentials.createInsecure(), split.channelOptions);
      t.after(() => client.close());
      const v2Share = (method: number): number => {
        const weights = split.getWeights(path(method));
        return weights['v2']! / (weights['v1']! + weights['v2']!);
      };
      const random = seededRandom(17);
      const seen = Array.from({ length: 12 }, () => ({ servers: [] as string[], shares: [] as number[] }));
      // M11 first: with a limit of 1 it takes the one name, and the methods with overrides are `other`.
      const order = [11, ...Array.from({ length: 1_199 }, () => Math.floor(random() * 12))];
      for (const [k, method] of order.entries()) {
        if (k === 600)
          split.setWeights({ v1: 70, v2: 30 }, { methods: { [path(0)]: null, [path(3)]: { v1: 0, v2: 100 } } });
        const share = v2Share(method);
        seen[method]!.servers.push(await genericCall(client, path(method)));
        seen[method]!.shares.push(share);
      }
      const gaps = seen.map(({ servers, shares }) => worstGapOfShares(servers, shares));
      assert.deepEqual(
        gaps.flatMap((gap, method) => (gap <= 2 ? [] : [`M${method} strays by ${gap}`])),
        [],
      );
      const on = (method: number, share: number) =>
        seen[method]!.servers.filter((_, k) => seen[method]!.shares[k] === share);
      assert.deepEqual(new Set(on(0, 0)), new Set(['v1']), 'M0 on v1 while its override holds');
      assert.deepEqual(new Set(seen[1]!.servers), new Set(['v2']), 'M1 on v2 throughout');
      assert.deepEqual(new Set(on(3, 1)), new Set(['v2']), 'M3 on v2 once its override holds');
    });
  }

  it('keeps the first methods exact after a generic client called 10,000 other names', async (t) => {
    const service = genericService(4);
    const split = new TrafficSplit({
      subsets: { v1: await genericServer(t, 'v1', service), v2: await genericServer(t, 'v2', service) },
      weights: { v1: 70, v2: 30 },
      methodWeights: { [path(0)]: { v1: 100, v2: 0 }, [path(1)]: { v1: 0, v2: 100 }, '/flood.S/': { v1: 0, v2: 100 } },
      methodFigures: { limit: 10_000 },
      scheduleSeed: 5,
    });
    t.after(() => split.close());
    const client = new grpc.Client(split.target, grpc.credentials.createInsecure(), split.channelOptions);
    t.after(() => client.close());
    const seen: string[][] = [[], [], [], []];
    for (let round = 0; round < 20; round++)
      for (let m = 0; m < 4; m++) seen[m]!.push(await genericCall(client, path(m)));
    // Unimplemented on the servers: each still takes a slot of the figures and a pick.
    for (let batch = 0; batch < 50; batch++)
      await Promise.all(Array.from({ length: 200 }, (_, i) => genericCall(client, `/flood.S/M${batch * 200 + i}`)));
    for (let round = 0; round < 200; round++)
      for (let m = 0; m < 4; m++) seen[m]!.push(await genericCall(client, path(m)));
    assert.deepEqual(
      seen.map((servers) => [...new Set(servers)].sort()),
      [['v1'], ['v2'], ['v1', 'v2'], ['v1', 'v2']],
    );
    for (const m of [2, 3]) {
      const gap = worstGapOfShares(seen[m]!, Array(seen[m]!.length).fill(0.3));
      assert.ok(gap <= 2, `M${m} strays by ${gap}`);
    }
  });
});

/**
 * Rules on the method and headers, on real servers: the beta testers' shop calls go to v2 at
 * weight 0, everyone else to v1 whatever the weights; and what a client built without the
 * split's options (no method known) matches.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type RouteRuleJson } from '../src/index.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { startServer } from './helpers/servers.js';
import { callShop, shopClient, type ShopClientInstance, type ShopUnaryMethod } from './helpers/shop-service.js';
import { closeAfter, connect, waitForSubsetsReady } from './helpers/split-helpers.js';

const BETA_RULES: RouteRuleJson[] = [
  { method: { prefix: '/shop.Store/' }, headers: [{ header: 'x-beta', equals: 'yes' }], subset: 'v2' },
  { headers: [{ header: 'x-beta', equals: 'yes', invert: true }], subset: 'v1' },
];

type Kind = ShopUnaryMethod | 'echo';
const KINDS: Kind[] = ['read', 'write', 'list', 'echo'];
/** What the calls carry: x-beta: yes, x-beta: no, or no x-beta. */
const BETAS = ['yes', 'no', undefined] as const;

function withBeta(...values: (string | undefined)[]): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const value of values) if (value !== undefined) metadata.add('x-beta', value);
  return metadata;
}

/** Two servers and a split over them (with `rules`), and a shop and an echo client built with
 * `clientOptions` (default: the split's options). */
async function shopRig(
  t: { after(fn: () => unknown): void },
  split: (targets: Record<string, string>) => TrafficSplit,
) {
  const v1 = await startServer('v1');
  const v2 = await startServer('v2');
  const built = split({ v1: v1.target, v2: v2.target });
  const shop = shopClient(built.target, built.channelOptions);
  const echo = echoClient(built.target, built.channelOptions);
  closeAfter(t, shop, echo, built, v1, v2);
  connect(shop, echo);
  await waitForSubsetsReady(built);
  return { v1, v2, split: built, shop, echo };
}

/** 60 calls, one after the other: Read, Write, List, Echo in turn, in groups of 4 carrying
 * x-beta: yes, x-beta: no, no x-beta in turn. Returns each call's kind, beta and server. */
async function sixtyCallsMade(shop: ShopClientInstance, echo: ReturnType<typeof echoClient>) {
  const made: { kind: Kind; beta: (typeof BETAS)[number]; server: string }[] = [];
  for (let i = 0; i < 60; i++) {
    const kind = KINDS[i % 4]!;
    const beta = BETAS[Math.floor(i / 4) % 3];
    const metadata = withBeta(beta);
    const { server } = kind === 'echo' ? await callEcho(echo, {}, metadata) : await callShop(shop, kind, {}, metadata);
    made.push({ kind, beta, server });
  }
  return made;
}

/** The 60 calls counted as `<shop|echo> <beta|other> -> <server>`. */
async function sixtyCalls(shop: ShopClientInstance, echo: ReturnType<typeof echoClient>) {
  const counts = new Map<string, number>();
  for (const { kind, beta, server } of await sixtyCallsMade(shop, echo)) {
    const key = `${kind === 'echo' ? 'echo' : 'shop'} ${beta === 'yes' ? 'beta' : 'other'} -> ${server}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return Object.fromEntries([...counts].sort());
}

describe('rules on the method and headers (real servers)', () => {
  it('sends beta shop calls to v2 at weight 0 and everyone else to v1, where the weights would send them to v2', async (t) => {
    const { split, shop, echo } = await shopRig(
      t,
      (subsets) => new TrafficSplit({ name: 'beta', subsets, weights: { v1: 50, v2: 50 }, rules: BETA_RULES }),
    );
    // The same calls through a split without the rules: half of them reach v2.
    const { shop: plainShop, echo: plainEcho } = await shopRig(
      t,
      (subsets) => new TrafficSplit({ name: 'plain', subsets, weights: { v1: 50, v2: 50 } }),
    );
    // Each method has its own schedule, whose lag stays strictly within one call: of each
    // method's 15 calls, 7.5 +- <1 reach v2, so 7 or 8 (the 60 together: 28 to 32).
    const plain = await sixtyCallsMade(plainShop, plainEcho);
    for (const kind of KINDS) {
      const onV2 = plain.filter((call) => call.kind === kind && call.server === 'v2').length;
      assert.ok(onV2 === 7 || onV2 === 8, `without the rules ${onV2} of 15 ${kind} calls on v2`);
    }

    // 50/50 with the rules: the 15 beta shop calls on v2; the 40 calls without x-beta: yes on v1
    // (the inverted match); the 5 beta echo calls match neither rule (their method is not
    // /shop.Store/) and follow the weights: 2.5 +- 1 on v2.
    const even = await sixtyCalls(shop, echo);
    const betaEchoOnV2 = even['echo beta -> v2'] ?? 0;
    assert.ok(betaEchoOnV2 >= 2 && betaEchoOnV2 <= 3, JSON.stringify(even));
    assert.deepEqual(even, {
      'echo beta -> v1': 5 - betaEchoOnV2,
      ...(betaEchoOnV2 === 0 ? {} : { 'echo beta -> v2': betaEchoOnV2 }),
      'echo other -> v1': 10,
      'shop beta -> v2': 15,
      'shop other -> v1': 30,
    });

    // v2 at weight 0 gets exactly the beta shop calls and nothing else.
    split.setWeights({ v1: 100, v2: 0 });
    assert.deepEqual(await sixtyCalls(shop, echo), {
      'echo beta -> v1': 5,
      'echo other -> v1': 10,
      'shop beta -> v2': 15,
      'shop other -> v1': 30,
    });
    // A multi-valued header matches when one of its values does; a near miss does not.
    assert.equal((await callShop(shop, 'write', {}, withBeta('no', 'yes'))).server, 'v2');
    assert.equal((await callShop(shop, 'write', {}, withBeta('YES'))).server, 'v1');
    assert.equal((await callShop(shop, 'write', {}, withBeta('yes '))).server, 'v1');
    assert.deepEqual(
      Object.fromEntries(Object.entries(split.stats().subsets).map(([name, s]) => [name, s.finished])),
      { v1: 40 + (5 - betaEchoOnV2) + 45 + 2, v2: 15 + betaEchoOnV2 + 15 + 1 },
    );
  });

  it("matches no method on a client built without the split's options, whose calls carry none", async (t) => {
    // Every call is counted in grpc-js's log as lacking the interceptor: keep the test's output clean.
    grpc.setLogger({ error: () => {}, info: () => {}, debug: () => {} } as unknown as Console);
    t.after(() => grpc.setLogger(console));
    const notShop: RouteRuleJson[] = [{ method: { prefix: '/shop.Store/', invert: true }, subset: 'v2' }];
    const { split, shop, echo } = await shopRig(
      t,
      (subsets) => new TrafficSplit({ name: 'not-shop', subsets, weights: { v1: 100, v2: 0 }, rules: notShop }),
    );
    const bare = shopClient(split.target);
    closeAfter(t, bare);
    const servers: string[] = [];
    for (let i = 0; i < 6; i++) {
      servers.push((await callShop(shop, KINDS[i % 3] as ShopUnaryMethod)).server);
      servers.push((await callEcho(echo)).server);
      servers.push((await callShop(bare, KINDS[i % 3] as ShopUnaryMethod)).server);
    }
    // shop with the options: v1 (a shop method); echo: v2 (not one); shop without: v2 (method '').
    assert.deepEqual(servers, Array.from({ length: 6 }, () => ['v1', 'v2', 'v2']).flat());
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { callEcho, type EchoRequest } from './helpers/echo-service.js';
import {
  mirrorRig,
  plainAnswer as plainAnswerOf,
  startRecordingServer,
  type Answer,
  copiesSettled,
} from './helpers/mirror-rig.js';
import { activeResources, diffResources } from './helpers/resources.js';
import { eventually, waitForSubsetsReady } from './helpers/split-helpers.js';
import { FakeClock } from './helpers/fake-clock.js';
import { setManualEndpoints } from './helpers/manual-resolver.js';
import { methodServiceConfig, quickRetryPolicy } from './helpers/service-config.js';

/** v2 answers differently when the request's number is a multiple of 7. */
const differsOn = (request: EchoRequest): boolean => Number(request.text?.slice(4)) % 7 === 0;
const v2Differs = (request: EchoRequest): Answer => ({
  reply: { text: differsOn(request) ? `${request.text}!` : request.text },
});

/** Resolves once every copy the split sent is accounted for. */
describe('shadow traffic (mirror)', () => {
  it('copies exactly 10% of 1,000 calls to v2, compares them, and the client sees only v1', async (t) => {
    const { split, client, v1, v2 } = await mirrorRig(t, v2Differs);
    split.setMirror({ subset: 'v2', percent: 10, compare: true });
    for (let i = 0; i < 1000; i++) {
      const reply = await callEcho(client, { text: `req-${i}` });
      assert.deepEqual(reply, { text: `req-${i}` }, `call ${i} answered by v1`);
    }
    await copiesSettled(split);
    const copied = v2.received.map((request) => Number(request.text!.slice(4))).sort((a, b) => a - b);
    assert.ok(Math.abs(copied.length - 100) <= 1, `${copied.length} copies`);
    assert.equal(new Set(copied).size, copied.length, 'each call copied at most once');
    for (let start = 0; start + 100 <= 1000; start++) {
      const inWindow = copied.filter((i) => i >= start && i < start + 100).length;
      assert.ok(Math.abs(inWindow - 10) <= 1, `window ${start}..${start + 99}: ${inWindow} copies`);
    }
    const differing = copied.filter((i) => i % 7 === 0).length;
    const mirror = split.stats().mirror!;
    assert.deepEqual(
      {
        sent: mirror.sent,
        completed: mirror.completed,
        failed: mirror.failed,
        dropped: mirror.dropped,
        matched: mirror.matched,
        mismatched: mirror.mismatched,
      },
      {
        sent: copied.length,
        completed: copied.length,
        failed: 0,
        dropped: 0,
        matched: copied.length - differing,
        mismatched: differing,
      },
    );
    assert.equal(v1.received.length, 1000);
    // Copies are not in the subsets' regular figures.
    const stats = split.stats();
    assert.equal(stats.subsets['v1']!.started, 1000);
    assert.equal(stats.subsets['v2']!.started, 0);
    assert.equal(stats.subsets['v2']!.finished, 0);
    assert.ok(mirror.latencyMs.p50 !== null && mirror.primaryLatencyMs.p50 !== null);
    assert.equal(mirror.samples.length, Math.min(20, differing));
    const sample = mirror.samples.at(-1)!;
    assert.equal(sample.method, '/test.Echo/Echo');
    assert.match(sample.reason, /^response differs \(\d+ vs \d+ bytes\)$/);
    assert.equal(sample.primary.bytes! + 1, sample.mirror.bytes);
    assert.match(sample.primary.sha256!, /^[0-9a-f]{64}$/);
    assert.equal(sample.primary.response, undefined, 'no bodies without keepBodies');
    t.diagnostic(
      `copies ${copied.length}, mismatched ${differing}, mirror ` +
        `p50 ${mirror.latencyMs.p50} ms, primary p50 ${mirror.primaryLatencyMs.p50} ms`,
    );
  });

  it('drops copies beyond maxInFlight, never queues them, and close() ends the copies in flight', async (t) => {
    // v2 holds every call until it is cancelled: no copy ends by itself during the test.
    const { split, client, v1, v2 } = await mirrorRig(t, () => new Promise<Answer>(() => {}));
    const before = activeResources();
    split.setMirror({ subset: 'v2', percent: 10, maxInFlight: 5, timeoutMs: 60_000 });
    for (let i = 0; i < 200; i++) assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
    await eventually(
      () => v2.received.length === 5,
      () => `${v2.received.length} copies received`,
    );
    const mirror = split.stats().mirror!;
    const decided = mirror.sent + mirror.dropped;
    assert.ok(Math.abs(decided - 20) <= 1, `${decided} copies decided over 200 calls`);
    assert.deepEqual([mirror.sent, mirror.inFlight, mirror.dropped, mirror.completed], [5, 5, decided - 5, 0]);
    assert.equal(v2.peakInFlight(), 5);
    assert.equal(v1.received.length, 200);
    // A new setting gets no fresh budget while the old setting's copies still hold their slots.
    split.setMirror({ subset: 'v2', percent: 100, maxInFlight: 5, timeoutMs: 60_000 });
    for (let i = 0; i < 10; i++) await callEcho(client, { text: `again-${i}` });
    assert.deepEqual([split.stats().mirror!.sent, split.stats().mirror!.dropped, v2.received.length], [0, 10, 5]);
    // Each copy in flight holds its deadline timer: what the check after close() looks for.
    assert.ok(
      (activeResources().get('Timeout') ?? 0) >= (before.get('Timeout') ?? 0) + 5,
      diffResources(before, activeResources()),
    );
    split.close();
    assert.equal(split.stats().mirror!.lifetime.sent, 5);
    await eventually(
      () => split.stats().mirror!.lifetime.completed === 5,
      () => JSON.stringify(split.stats().mirror),
    );
    assert.equal(split.stats().mirror!.lifetime.failed, 5);
    await eventually(
      () => v2.inFlight() === 0,
      () => `v2 still handles ${v2.inFlight()} copies`,
    );
    // The copies' deadline timers went with them.
    t.diagnostic(`resources after close: ${diffResources(before, activeResources()) || 'as before'}`);
    await eventually(
      () => activeResources().get('Timeout') === before.get('Timeout'),
      () => diffResources(before, activeResources()),
    );
  });

  it('ends every copy by its timeout when v2 answers too late, and the primaries are unaffected', async (t) => {
    const { split, client } = await mirrorRig(
      t,
      (request) =>
        new Promise<Answer>((resolve) => setTimeout(() => resolve({ reply: { text: request.text } }), 2_000).unref()),
    );
    split.setMirror({ subset: 'v2', percent: 10, maxInFlight: 5 });
    for (let i = 0; i < 300; i++) assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
    await copiesSettled(split, 15_000);
    const mirror = split.stats().mirror!;
    assert.ok(Math.abs(mirror.sent + mirror.dropped - 30) <= 1, JSON.stringify(mirror));
    assert.ok(mirror.sent >= 5, JSON.stringify(mirror));
    // No primary deadline: each copy's own is 1 s, and v2 answers after 2 s.
    assert.deepEqual(mirror.codes, { DEADLINE_EXCEEDED: mirror.sent });
    assert.deepEqual(
      [mirror.failed, mirror.completed, mirror.matched, mirror.mismatched],
      [mirror.sent, mirror.sent, 0, 0],
    );
    assert.equal(split.stats().subsets['v1']!.codes.OK, 300);
  });

  it("gives a copy the primary's remaining deadline, at most 1 s", async (t) => {
    const { split, client, v2 } = await mirrorRig(t);
    split.setMirror({ subset: 'v2', percent: 100 });
    const farStart = Date.now();
    await callEcho(client, { text: 'far' }, new grpc.Metadata(), { deadline: farStart + 30_000 });
    const near = Date.now() + 500;
    // Only the copy matters here: on a very busy machine the primary itself may run out of time.
    await callEcho(client, { text: 'near' }, new grpc.Metadata(), { deadline: near }).catch(() => undefined);
    await eventually(
      () => v2.received.length === 2,
      () => `${v2.received.length} copies`,
    );
    const [far, nearCopy] = v2.deadlines as [number, number];
    // The server dates a deadline from its arrival, so it is late by the transit time (allowed
    // up to 200 ms); capping or not differs by 29 s for the first, 500 ms for the second.
    assert.ok(
      far >= farStart + 1_000 - 50 && far <= Date.now() + 1_000,
      `far copy's deadline ${far - farStart} ms after the call`,
    );
    assert.ok(nearCopy <= near + 200, `near copy's deadline ${nearCopy - near} ms after the primary's`);
  });

  it('counts copies as failed when v2 is down, never waits for ready with them, and every primary succeeds', async (t) => {
    const down = await startRecordingServer('down', () => ({ reply: {} }));
    down.kill();
    const { split, client } = await mirrorRig(t, undefined, { v2Target: down.target });
    split.setMirror({ subset: 'v2', percent: 50, compare: true, timeoutMs: 30_000 });
    // The primaries wait for ready; their copies must not: they fail as soon as v2's
    // connection attempt fails, long before their 30 s deadline.
    for (let i = 0; i < 100; i++)
      assert.deepEqual(await callEcho(client, { text: `req-${i}` }, new grpc.Metadata({ waitForReady: true })), {
        text: `req-${i}`,
      });
    await copiesSettled(split);
    const mirror = split.stats().mirror!;
    assert.equal(mirror.sent, 50);
    assert.deepEqual([mirror.completed, mirror.failed, mirror.matched, mirror.mismatched], [50, 50, 0, 0]);
    assert.deepEqual(mirror.codes, { UNAVAILABLE: 50 });
    assert.deepEqual(split.stats().subsets['v1']!.codes, { OK: 100 });
  });

  it('with a custom comparator that ignores a field, counts mismatches only where other fields differ', async (t) => {
    let stamp = 0;
    const { split, client, v2 } = await mirrorRig(t, (request) => ({
      reply: { text: differsOn(request) ? `${request.text}!` : request.text, servedAt: ++stamp },
    }));
    const seen: string[] = [];
    split.setMirror({
      subset: 'v2',
      percent: 20,
      compare: (primary, mirror) => {
        seen.push(`${primary.status}/${mirror.status}/${typeof mirror.metadata.trailers}`);
        const a = primary.response as { text: string };
        const b = mirror.response as { text: string; servedAt: number };
        return a.text === b.text || `text ${a.text} vs ${b.text}`;
      },
    });
    for (let i = 0; i < 200; i++) await callEcho(client, { text: `req-${i}` });
    await copiesSettled(split);
    const differing = v2.received.filter(differsOn).length;
    const mirror = split.stats().mirror!;
    assert.equal(mirror.sent, 40);
    assert.deepEqual([mirror.matched, mirror.mismatched, mirror.compareErrors], [40 - differing, differing, 0]);
    assert.ok(differing > 0);
    assert.match(mirror.samples[0]!.reason, /^text req-\d+ vs req-\d+!$/);
    assert.deepEqual(new Set(seen), new Set(['OK/OK/object']));
  });

  it('counts a comparator that throws or answers neither a boolean nor a string as a mismatch and a compare error', async (t) => {
    const { split, client } = await mirrorRig(t);
    let n = 0;
    split.setMirror({
      subset: 'v2',
      percent: 100,
      compare: () => {
        n++;
        if (n % 3 === 0) throw new Error('boom');
        return n % 3 === 1 ? true : (undefined as unknown as boolean);
      },
    });
    for (let i = 0; i < 30; i++) assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
    await copiesSettled(split);
    const mirror = split.stats().mirror!;
    assert.deepEqual([mirror.matched, mirror.mismatched, mirror.compareErrors], [10, 20, 20]);
    const reasons = new Set(mirror.samples.map((sample) => sample.reason));
    assert.deepEqual(
      reasons,
      new Set(['comparator threw: boom', 'comparator returned undefined; expected a boolean or a string']),
    );
  });

  it('stops copying at setMirror(null), also while calls run concurrently, and accounts for every copy', async (t) => {
    const { split, client, v2 } = await mirrorRig(t);
    split.setMirror({ subset: 'v2', percent: 50, compare: true });
    let toggles = 0;
    const toggler = setInterval(() => {
      toggles++;
      split.setMirror(toggles % 2 === 0 ? { subset: 'v2', percent: 50, compare: true } : null);
    }, 2);
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 50; i++)
        assert.deepEqual(await callEcho(client, { text: `w${w}-${i}` }), { text: `w${w}-${i}` });
    });
    await Promise.all(workers);
    clearInterval(toggler);
    split.setMirror({ subset: 'v2', percent: 50, compare: true });
    for (let i = 0; i < 20; i++) await callEcho(client, { text: `req-${i}` });
    await copiesSettled(split);
    const lifetime = split.stats().mirror!.lifetime;
    await eventually(
      () => v2.received.length === lifetime.sent,
      () => `${v2.received.length} received, ${lifetime.sent} sent`,
    );
    assert.equal(lifetime.completed, lifetime.sent);
    assert.equal(lifetime.mismatched + lifetime.failed, 0, JSON.stringify(lifetime));
    split.setMirror(null);
    const received = v2.received.length;
    assert.equal(split.getMirror(), null);
    assert.equal(split.stats().mirror!.active, false);
    for (let i = 0; i < 100; i++) await callEcho(client, { text: `after-${i}` });
    assert.equal(v2.received.length, received, 'no copy after setMirror(null)');
    t.diagnostic(`${toggles} toggles, ${lifetime.sent} copies`);
  });

  it(
    'copies the application metadata, never the routing hint, and ' +
      'leaves streams, other methods and calls routed to v2 alone',
    async (t) => {
      const { split, client, v2 } = await mirrorRig(t, undefined, { weights: { v1: 100, v2: 0 } });
      split.setMirror({ subset: 'v2', percent: 100 });
      const metadata = new grpc.Metadata({ waitForReady: true });
      metadata.set('x-app', 'kept');
      metadata.set('x-traffic-split', 'forged');
      await callEcho(client, { text: 'req-1' }, metadata);
      await eventually(
        () => v2.received.length === 1,
        () => `${v2.received.length}`,
      );
      assert.equal(v2.metadata[0]!.get('x-app')[0], 'kept');
      assert.deepEqual(v2.metadata[0]!.get('x-traffic-split'), []);
      // Routed to v2 itself: not copied, and not a draw either.
      await callEcho(client, { text: 'req-2' }, new grpc.Metadata(), split.route({ subset: 'v2' }));
      // A server stream is never copied.
      await new Promise<void>((resolve, reject) =>
        client
          .stream({ count: 2 })
          .on('data', () => {})
          .on('end', resolve)
          .on('error', reject),
      );
      split.setMirror({ subset: 'v2', percent: 100, methods: ['/test.Echo/Other'] });
      await callEcho(client, { text: 'req-3' });
      await copiesSettled(split);
      assert.deepEqual(
        v2.received.map((r) => r.text),
        ['req-1', 'req-2'],
      );
      assert.equal(split.stats().subsets['v2']!.started, 1, 'the routed call, not the copy');
      assert.equal(split.stats().mirror!.lifetime.sent, 1);
    },
  );

  it('survives huge messages: a large request is copied, an oversized copy answer fails only the copy', async (t) => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const { split, client, v2 } = await mirrorRig(t, (request) => ({
      reply: { text: request.text === 'huge-answer' ? 'y'.repeat(5 * 1024 * 1024) : `${request.text}`.slice(0, 10) },
    }));
    split.setMirror({ subset: 'v2', percent: 100, compare: true, keepBodies: true });
    const reply = await callEcho(client, { text: big });
    assert.equal(reply.text!.length, big.length);
    assert.deepEqual(await callEcho(client, { text: 'huge-answer' }), { text: 'huge-answer' });
    await copiesSettled(split);
    const mirror = split.stats().mirror!;
    assert.equal(v2.received[0]!.text!.length, big.length);
    assert.deepEqual([mirror.sent, mirror.mismatched, mirror.failed], [2, 1, 1]);
    assert.deepEqual(mirror.codes, { OK: 1, RESOURCE_EXHAUSTED: 1 });
    // The primary's 3 MB body is over the sample limit; the copy's small one is kept.
    const sample = mirror.samples[0]!;
    assert.equal(sample.primary.response, undefined);
    assert.deepEqual(sample.mirror.response, { text: 'xxxxxxxxxx' });
  });

  it('does not copy the calls that went to the mirror subset themselves, and stays exact over the others', async (t) => {
    const { split, client, v1, v2 } = await mirrorRig(t, plainAnswerOf, {
      weights: { v1: 50, v2: 50 },
      extra: { retryOnOtherSubset: true },
    });
    split.setMirror({ subset: 'v2', percent: 100 });
    for (let i = 0; i < 100; i++) await callEcho(client, { text: `req-${i}` });
    await copiesSettled(split);
    assert.equal(v1.received.length, 50);
    const mirror = split.stats().mirror!;
    // v2 got its 50 real calls and one copy of each of v1's.
    assert.deepEqual([mirror.sent, v2.received.length, split.stats().subsets['v2']!.started], [50, 100, 50]);
    assert.deepEqual(new Set(v2.received.map((r) => r.text)).size, 100);
  });

  it('never retries a copy, even under a channel retry policy that retries the primaries', async (t) => {
    const serviceConfig = methodServiceConfig({ service: 'test.Echo' }, { retryPolicy: quickRetryPolicy(3) });
    const { split, client, v2 } = await mirrorRig(
      t,
      () => ({ code: grpc.status.UNAVAILABLE, details: 'v2 is overloaded' }),
      { clientOptions: { 'grpc.service_config': serviceConfig } },
    );
    // The policy is in force: a real call routed to v2 is tried three times.
    await assert.rejects(callEcho(client, { text: 'routed' }, new grpc.Metadata(), split.route({ subset: 'v2' })), {
      code: grpc.status.UNAVAILABLE,
    });
    assert.equal(v2.received.length, 3);
    split.setMirror({ subset: 'v2', percent: 50, compare: true });
    for (let i = 0; i < 20; i++) await callEcho(client, { text: `req-${i}` });
    await copiesSettled(split);
    const mirror = split.stats().mirror!;
    assert.deepEqual([mirror.sent, mirror.failed, v2.received.length - 3], [10, 10, 10]);
  });

  it('fails the copies while the mirror subset has no endpoint, and copies again once it has one', async (t) => {
    const clock = new FakeClock();
    const name = `mirror-no-endpoint-${process.pid}`;
    const v2Target = setManualEndpoints(name, []);
    const { split, client, v2 } = await mirrorRig(t, plainAnswerOf, {
      v2Target,
      extra: { clock, reresolveIntervalMs: 60_000 },
    });
    split.setMirror({ subset: 'v2', percent: 100, compare: true, timeoutMs: 2_000 });
    for (let i = 0; i < 10; i++) assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
    await copiesSettled(split);
    let mirror = split.stats().mirror!;
    assert.deepEqual([mirror.sent, mirror.failed, mirror.matched], [10, 10, 0]);
    t.diagnostic(
      `copies without an endpoint ended with ${JSON.stringify(mirror.codes)}; ` +
        `v2 ${split.stats().subsets['v2']!.state}`,
    );
    // The subset's endpoint appears at the next re-resolution.
    setManualEndpoints(name, [Number(v2.target.split(':').at(-1))]);
    clock.advance(60_000);
    await waitForSubsetsReady(split, ['v2']);
    for (let i = 10; i < 20; i++) await callEcho(client, { text: `req-${i}` });
    await copiesSettled(split);
    mirror = split.stats().mirror!;
    assert.deepEqual([mirror.sent, mirror.failed, mirror.matched, v2.received.length], [20, 10, 10, 10]);
  });
});

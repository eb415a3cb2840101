/**
 * The primary beside a plain channel: with a mirror on, a call through the split must end
 * exactly as the same call on a plain channel straight to its server (status, message, headers,
 * trailers), whatever the copy does; and the mirror's accounting stays exact under hostile use.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import {
  callEcho,
  echoClient,
  echoService,
  type EchoClientInstance,
  type EchoRequest,
} from './helpers/echo-service.js';
import { startRecordingServer, type Answer } from './helpers/mirror-rig.js';
import { activeResources, diffResources } from './helpers/resources.js';
import { connect, eventually, waitForSubsetsReady, closeAfter } from './helpers/split-helpers.js';

interface Ended {
  code: number;
  details: string;
  reply: unknown;
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
}

/** One unary call with everything the application can observe of its end. */
function observe(
  client: grpc.Client,
  method: string,
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions = {},
  onCall?: (call: grpc.ClientUnaryCall) => void,
): Promise<Ended> {
  return new Promise((resolve) => {
    let headers: Record<string, unknown> = {};
    let reply: unknown = null;
    const call = (client as unknown as Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>)[method]!(
      request,
      metadata,
      options,
      (_error: grpc.ServiceError | null, value: unknown) => {
        reply = value ?? null;
      },
    );
    call.on('metadata', (m: grpc.Metadata) => (headers = strip(m.getMap())));
    // grpc-js calls the callback before it emits 'status'.
    call.on('status', (status: grpc.StatusObject) =>
      resolve({
        code: status.code,
        details: status.details,
        reply,
        headers,
        trailers: strip(status.metadata.getMap()),
      }),
    );
    onCall?.(call);
  });
}

function strip(map: Record<string, unknown>): Record<string, unknown> {
  const { date: _date, ...rest } = map;
  return rest;
}

/** A server answering `echo` with headers and trailers (one of them binary), or an error. */
async function richServer(
  name: string,
  delayMs = 0,
): Promise<{ target: string; received: () => number; kill: () => void }> {
  const server = new grpc.Server();
  let received = 0;
  server.addService(echoService, {
    echo: (call: grpc.ServerUnaryCall<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      received++;
      const headers = new grpc.Metadata();
      headers.set('x-served-by', name === 'v2' ? 'v2' : 'v1');
      headers.set('x-echo-bin', Buffer.from([0, 255, 1, 254]));
      call.sendMetadata(headers);
      const trailers = new grpc.Metadata();
      trailers.set('x-trailer-bin', Buffer.from([9, 8, 7]));
      trailers.set('x-size', String(call.metadata.get('x-huge')[0]?.toString().length ?? 0));
      const answer = (): void => {
        if (call.request.failWith)
          callback({ code: call.request.failWith, details: `${name} fails`, metadata: trailers });
        else
          callback(
            null,
            { text: call.request.text, bin: call.metadata.get('x-key-bin').map((b) => (b as Buffer).toString('hex')) },
            trailers,
          );
      };
      if (delayMs > 0) setTimeout(answer, delayMs).unref();
      else answer();
    },
    stream: (call: grpc.ServerWritableStream<EchoRequest, unknown>) => {
      received++;
      call.write({ index: 0, server: name });
      call.end();
    },
    collect: (call: grpc.ServerReadableStream<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      received++;
      const texts: string[] = [];
      call.on('data', (r: EchoRequest) => texts.push(r.text ?? ''));
      call.on('end', () => callback(null, { server: name, text: texts.join(',') }));
    },
    chat: (call: grpc.ServerDuplexStream<EchoRequest, unknown>) => {
      received++;
      call.on('data', (r: EchoRequest) => call.write({ server: name, text: r.text }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { target: `ipv4:127.0.0.1:${port}`, received: () => received, kill: () => server.forceShutdown() };
}

async function pairRig(t: TestContext, v2DelayMs = 0, channelOptions: grpc.ChannelOptions = {}) {
  const v1 = await richServer('v1');
  const v2 = await richServer('v2', v2DelayMs);
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
  const client = echoClient(
    split.target,
    split.withChannelOptions({
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 200,
      ...channelOptions,
    }),
  );
  const plain = echoClient(v1.target);
  closeAfter(t, client, plain, split, v1, v2);
  connect(client, plain);
  await waitForSubsetsReady(split);
  return { v1, v2, split, client, plain };
}

describe('the primary beside a plain channel, with a mirror on', () => {
  it('ends exactly as on a plain channel: binary and huge metadata, errors, trailers; the copy is slower', async (t) => {
    const { split, client, plain, v2 } = await pairRig(t, 150);
    split.setMirror({ subset: 'v2', percent: 100, compare: true, timeoutMs: 5_000 });
    const cases: [EchoRequest, (m: grpc.Metadata) => void][] = [
      [{ text: 'plain' }, () => {}],
      [{ text: 'bin' }, (m) => m.set('x-key-bin', Buffer.from([0, 1, 2, 255]))],
      [{ text: 'huge' }, (m) => m.set('x-huge', 'h'.repeat(6_000))],
      [{ text: 'fails', failWith: grpc.status.FAILED_PRECONDITION }, (m) => m.set('x-key-bin', Buffer.alloc(0))],
      [{ text: 'huge-20k' }, (m) => m.set('x-huge', 'h'.repeat(20_000))],
    ];
    for (const [request, fill] of cases) {
      const m1 = new grpc.Metadata();
      fill(m1);
      const m2 = new grpc.Metadata();
      fill(m2);
      const [viaSplit, viaPlain] = await Promise.all([
        observe(client, 'echo', request, m1),
        observe(plain, 'echo', request, m2),
      ]);
      assert.deepEqual(viaSplit, viaPlain, request.text);
      t.diagnostic(`${request.text}: ${grpc.status[viaSplit.code]} ${viaSplit.details.slice(0, 80)}`);
    }
    await eventually(
      () => split.stats().mirror!.completed === 5,
      () => JSON.stringify(split.stats().mirror),
    );
    const mirror = split.stats().mirror!;
    t.diagnostic(
      JSON.stringify({
        sent: mirror.sent,
        matched: mirror.matched,
        mismatched: mirror.mismatched,
        failed: mirror.failed,
        notCompared: mirror.notCompared,
        codes: mirror.codes,
        v2: v2.received(),
      }),
    );
    assert.deepEqual([mirror.sent, mirror.matched, mirror.mismatched, mirror.failed, v2.received()], [5, 5, 0, 0, 5]);
    // Same answers, but v2 took 150 ms more for each: the primaries' latency is not the copies'.
    assert.ok(
      mirror.latencyMs.p50! > mirror.primaryLatencyMs.p50!,
      JSON.stringify([mirror.latencyMs, mirror.primaryLatencyMs]),
    );
    assert.deepEqual(split.stats().subsets['v1']!.codes, { OK: 4, FAILED_PRECONDITION: 1 });
    assert.equal(split.stats().subsets['v2']!.started, 0);
  });

  it('a request the application cannot serialize fails the primary as on a plain channel, and is never copied', async (t) => {
    const { split, plain, v2 } = await pairRig(t);
    const throwing = {
      ...echoService.echo,
      requestSerialize: (value: EchoRequest) => {
        if (value.text === 'bad') throw new Error('cannot serialize bad');
        return Buffer.from(JSON.stringify(value));
      },
    };
    const Client = grpc.makeGenericClientConstructor({ echo: throwing }, 'test.Echo');
    const viaSplitClient = new Client(split.target, grpc.credentials.createInsecure(), split.withChannelOptions({}));
    const viaPlainClient = new Client(plain.getChannel().getTarget(), grpc.credentials.createInsecure());
    t.after(() => {
      viaSplitClient.close();
      viaPlainClient.close();
    });
    split.setMirror({ subset: 'v2', percent: 100, compare: true });
    for (let i = 0; i < 5; i++) {
      const [a, b] = await Promise.all([
        observe(viaSplitClient, 'echo', { text: 'bad' }, new grpc.Metadata()),
        observe(viaPlainClient, 'echo', { text: 'bad' }, new grpc.Metadata()),
      ]);
      assert.deepEqual(a, b);
      assert.equal(a.code, grpc.status.INTERNAL);
    }
    const good = await observe(viaSplitClient, 'echo', { text: 'good' }, new grpc.Metadata());
    assert.equal(good.code, grpc.status.OK);
    await eventually(
      () => split.stats().mirror!.completed === split.stats().mirror!.sent && v2.received() === 1,
      () => JSON.stringify(split.stats().mirror),
    );
    const mirror = split.stats().mirror!;
    t.diagnostic(
      `after 5 unserializable calls and 1 good one: ${JSON.stringify({ sent: mirror.sent, dropped: mirror.dropped, failed: mirror.failed, codes: mirror.codes })}`,
    );
    assert.equal(v2.received(), 1);
    assert.equal(mirror.failed, 0, 'no copy of a request that never left');
  });

  it('leaves client-streaming, bidi and server-streaming calls alone', async (t) => {
    const { split, client, v2 } = await pairRig(t);
    split.setMirror({ subset: 'v2', percent: 100, compare: true });
    const collected = await new Promise<unknown>((resolve, reject) => {
      const call = client.collect((e, r) => (e ? reject(e) : resolve(r)));
      call.write({ text: 'a' });
      call.write({ text: 'b' });
      call.end();
    });
    assert.deepEqual(collected, { server: 'v1', text: 'a,b' });
    const chatted = await new Promise<unknown[]>((resolve, reject) => {
      const out: unknown[] = [];
      const call = client.chat();
      call
        .on('data', (d) => out.push(d))
        .on('end', () => resolve(out))
        .on('error', reject);
      call.write({ text: 'x' });
      call.end();
    });
    assert.deepEqual(chatted, [{ server: 'v1', text: 'x' }]);
    await new Promise<void>((resolve, reject) =>
      client
        .stream({})
        .on('data', () => {})
        .on('end', resolve)
        .on('error', reject),
    );
    assert.deepEqual([v2.received(), split.stats().mirror!.sent, split.stats().mirror!.dropped], [0, 0, 0]);
    // The control: the mirror is on, and copies a unary call of the same client.
    await callEcho(client, { text: 'unary' });
    await eventually(
      () => split.stats().mirror!.completed === 1,
      () => JSON.stringify(split.stats().mirror),
    );
    assert.deepEqual([v2.received(), split.stats().mirror!.sent], [1, 1]);
  });

  it(
    'a primary cancelled or out of time while its copy runs ends ' +
      'as on a plain channel; the copy ends by its own timeout',
    async (t) => {
      const { split, client, v2 } = await pairRig(t, 400);
      split.setMirror({ subset: 'v2', percent: 100, compare: true, timeoutMs: 2_000 });
      // Cancelled at once by the application.
      const cancelled = await observe(client, 'echo', { text: 'c' }, new grpc.Metadata(), {}, (call) => call.cancel());
      assert.deepEqual([cancelled.code, cancelled.details], [grpc.status.CANCELLED, 'Cancelled on client']);
      // A primary whose own deadline is shorter than the copy's answer: it is unaffected.
      const ok = await observe(client, 'echo', { text: 'd' }, new grpc.Metadata(), { deadline: Date.now() + 5_000 });
      assert.equal(ok.code, grpc.status.OK);
      await eventually(
        () => split.stats().mirror!.completed === split.stats().mirror!.sent && split.stats().mirror!.inFlight === 0,
        () => JSON.stringify(split.stats().mirror),
        10_000,
      );
      const mirror = split.stats().mirror!;
      t.diagnostic(
        `figures: ${JSON.stringify({ sent: mirror.sent, dropped: mirror.dropped, codes: mirror.codes, matched: mirror.matched, notCompared: mirror.notCompared })}; v2 received ${v2.received()}`,
      );
      assert.equal(mirror.matched, 1, 'the copy of "d" answered after its primary, and matched');
    },
  );

  it(
    'setMirror replaced on every call by 8 concurrent workers: ' +
      'every chosen copy is sent or dropped, every sent one accounted',
    async (t) => {
      const { split, client, v2 } = await pairRig(t);
      let replaced = 0;
      const configure = (): void => {
        replaced++;
        split.setMirror({ subset: 'v2', percent: 100, compare: true, maxInFlight: 3 });
      };
      configure();
      const workers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 40; i++) {
          const pending = callEcho(client, { text: `w${w}-${i}` });
          // Replace the mirror while the call is being decided, and again after it.
          queueMicrotask(configure);
          setImmediate(configure);
          assert.deepEqual(await pending, { text: `w${w}-${i}`, bin: [] });
        }
      });
      await Promise.all(workers);
      await eventually(
        () =>
          split.stats().mirror!.inFlight === 0 &&
          split.stats().mirror!.lifetime.completed === split.stats().mirror!.lifetime.sent,
        () => JSON.stringify(split.stats().mirror),
        10_000,
      );
      const lifetime = split.stats().mirror!.lifetime;
      t.diagnostic(`${replaced} replacements; ${JSON.stringify(lifetime)}`);
      // Every mirror was at 100%, and one was always in force: each of the 320 calls was chosen.
      assert.equal(lifetime.sent + lifetime.dropped, 320);
      assert.equal(v2.received(), lifetime.sent);
      assert.deepEqual([lifetime.failed, lifetime.mismatched, lifetime.matched], [0, 0, lifetime.sent]);
      assert.equal(split.stats().subsets['v1']!.codes.OK, 320);
    },
  );

  it('stays exact (1 in 10 of the calls not sent to the mirror subset) while the weights change on every call', async (t) => {
    const v1 = await startRecordingServer('v1', (r): Answer => ({ reply: { text: r.text } }));
    const v2 = await startRecordingServer('v2', (r): Answer => ({ reply: { text: r.text } }));
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
    const client: EchoClientInstance = echoClient(split.target, split.withChannelOptions({}));
    closeAfter(t, client, split, v1, v2);
    connect(client);
    await waitForSubsetsReady(split);
    split.setMirror({ subset: 'v2', percent: 10 });
    const copiedAt: number[] = [];
    for (let i = 0; i < 600; i++) {
      split.setWeights(i % 3 === 0 ? { v1: 100, v2: 0 } : i % 3 === 1 ? { v1: 70, v2: 30 } : { v1: 1, v2: 1 });
      const before = split.stats().mirror!.sent;
      await callEcho(client, { text: `req-${i}` });
      await eventually(
        () => split.stats().mirror!.inFlight === 0,
        () => 'copy in flight',
      );
      if (split.stats().mirror!.sent > before) copiedAt.push(v1.received.length);
    }
    const eligible = v1.received.length;
    const copies = split.stats().mirror!.sent;
    t.diagnostic(`${eligible} calls on v1, ${copies} copies, ${v2.received.length - copies} real calls on v2`);
    assert.ok(Math.abs(copies - eligible / 10) <= 1, `${copies} copies of ${eligible}`);
    // Every run of 50 eligible calls holds 5 copies, within one.
    for (let start = 0; start + 50 <= eligible; start += 10) {
      const inRun = copiedAt.filter((n) => n > start && n <= start + 50).length;
      assert.ok(Math.abs(inRun - 5) <= 1, `eligible calls ${start + 1}..${start + 50}: ${inRun} copies`);
    }
  });

  it('with the channel going idle between calls, copies still go and nothing is left behind after close()', async (t) => {
    const before = activeResources();
    const { split, client, v2 } = await pairRig(t, 0, { 'grpc.client_idle_timeout_ms': 1_000 });
    split.setMirror({ subset: 'v2', percent: 100, compare: true });
    assert.equal((await observe(client, 'echo', { text: 'a' }, new grpc.Metadata())).code, grpc.status.OK);
    await eventually(
      () => client.getChannel().getConnectivityState(false) === grpc.connectivityState.IDLE,
      () => grpc.connectivityState[client.getChannel().getConnectivityState(false)],
      10_000,
    );
    assert.equal((await observe(client, 'echo', { text: 'b' }, new grpc.Metadata())).code, grpc.status.OK);
    await eventually(
      () => split.stats().mirror!.completed === 2,
      () => JSON.stringify(split.stats().mirror),
      10_000,
    );
    const mirror = split.stats().mirror!;
    assert.deepEqual([mirror.sent, mirror.matched, v2.received()], [2, 2, 2]);
    client.close();
    split.close();
    await eventually(
      () =>
        diffResources(before, activeResources())
          .split(', ')
          .every((d) => d === '' || !d.startsWith('Timeout')),
      () => diffResources(before, activeResources()),
      10_000,
    );
  });
});

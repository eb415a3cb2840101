/**
 * The channels copies are made on: one connection to the mirror subset for the copies of every
 * client of a split with the same options (grpc-js's subchannel pool shares it), never the
 * primaries' connection, and closed with the mirror, the clients and the split, leaving no socket.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { CopyChannels, SplitChannel } from '../src/policy/mirror/mirror-channels.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { copiesSettled, startRecordingServer, type Answer } from './helpers/mirror-rig.js';
import { activeResources, diffResources } from './helpers/resources.js';
import { startServer } from './helpers/servers.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';
import { hasOpenssl, makeTestPki } from './helpers/tls.js';
import { FakeClock } from './helpers/fake-clock.js';
import { manualResolutions, setManualEndpoints } from './helpers/manual-resolver.js';

/** Sockets of this process (client and server ends alike), by grpc-js or anything else. */
const sockets = (): number => activeResources().get('TCPWRAP') ?? 0;

/** Sockets and ref'd timers as now, against `before` (pending immediates come and go). */
function lasting(before: Map<string, number>): string {
  const keep = (counts: Map<string, number>) =>
    new Map([...counts].filter(([type]) => type === 'TCPWRAP' || type === 'Timeout'));
  return diffResources(keep(before), keep(activeResources()));
}

describe('the copy channels', () => {
  it(
    'share one connection to the mirror subset between clients with ' +
      'equal options, and close with the mirror, the clients and the split',
    async () => {
      const before = activeResources();
      const v1 = await startServer('v1');
      const v2 = await startServer('v2');
      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
      const options = split.withChannelOptions({});
      const a = echoClient(split.target, options);
      const b = echoClient(split.target, options);
      try {
        connect(a, b);
        await waitForSubsetsReady(split);
        // The primaries of both clients share one connection per subset (equal options).
        await eventually(
          () => v1.open() === 1 && v2.open() === 1,
          () => `v1 ${v1.open()}, v2 ${v2.open()} connections`,
        );
        const copyAll = (): void => split.setMirror({ subset: 'v2', percent: 100, compare: true });
        const calls = async (): Promise<void> => {
          for (const client of [a, b]) for (let i = 0; i < 5; i++) await callEcho(client, { text: `x-${i}` });
          await copiesSettled(split);
        };
        copyAll();
        await calls();
        assert.deepEqual(
          [split.stats().mirror!.completed, split.stats().mirror!.failed, v2.open()],
          [10, 0, 2],
          'one connection for the primaries, one for the copies of both clients',
        );

        // The mirror turned off: the copy channels close, and with them the copies' connection.
        split.setMirror(null);
        await eventually(
          () => v2.open() === 1,
          () => `v2 ${v2.open()} connections`,
        );
        copyAll();
        await calls();
        assert.equal(v2.open(), 2);

        // Both clients closed: their channels and their copy channels release every connection.
        a.close();
        b.close();
        await eventually(
          () => v1.open() + v2.open() === 0,
          () => `v1 ${v1.open()}, v2 ${v2.open()} connections`,
        );
      } finally {
        a.close();
        b.close();
        split.close();
        await v1.kill();
        await v2.kill();
      }
      await eventually(
        () => sockets() === (before.get('TCPWRAP') ?? 0),
        () => diffResources(before, activeResources()),
      );
    },
  );

  it('are built again when the receive limit the byte bound sets changes, and kept when it does not', () => {
    const MiB = 1024 * 1024;
    const copies = new CopyChannels('limits');
    const primary = new SplitChannel('ipv4:127.0.0.1:1', grpc.credentials.createInsecure(), {}, copies);
    const channelAfter = (answerLimit: number | null): grpc.Channel => {
      copies.keepOnly([0], answerLimit);
      const lease = copies.lease(primary, 0)!;
      lease.release();
      return lease.channel;
    };
    try {
      // The client's limit is grpc-js's default, 4 MiB: a bound of 64 MiB leaves it as it is.
      const unlimited = channelAfter(null);
      assert.equal(channelAfter(64 * MiB), unlimited);
      const bound = channelAfter(MiB);
      assert.notEqual(bound, unlimited);
      assert.equal(channelAfter(MiB), bound);
      assert.notEqual(channelAfter(null), bound);
    } finally {
      copies.close();
      primary.close();
    }
  });

  it(
    'mirrors a client whose channelOverride or channelFactoryOverride is null ' +
      'or undefined: grpc-js builds its channel as without them, so the split does',
    async (t) => {
      const v1 = await startRecordingServer('v1', (request): Answer => ({ reply: { text: request.text } }));
      const v2 = await startRecordingServer('v2', (request): Answer => ({ reply: { text: request.text } }));
      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
      closeAfter(t, split, v1, v2);
      // What a JavaScript application (or one filling options from its configuration) may pass.
      const none = null as unknown as undefined;
      const variants: Record<string, grpc.ClientOptions> = {
        absent: {},
        channelOverrideUndefined: { channelOverride: undefined },
        channelOverrideNull: { channelOverride: none },
        channelFactoryOverrideNull: { channelFactoryOverride: none },
      };
      split.setMirror({ subset: 'v2', percent: 100, compare: true });
      const mirrored: Record<string, number> = {};
      for (const [name, options] of Object.entries(variants)) {
        const client = echoClient(split.target, split.withChannelOptions(options));
        t.after(() => client.close());
        const sentBefore = split.stats().mirror!.sent;
        await callEcho(client, { text: name });
        await copiesSettled(split);
        mirrored[name] = split.stats().mirror!.sent - sentBefore;
      }
      assert.deepEqual(mirrored, {
        absent: 1,
        channelOverrideUndefined: 1,
        channelOverrideNull: 1,
        channelFactoryOverrideNull: 1,
      });
      assert.equal(v2.received.length, 4);
    },
  );

  it(
    'a client closed while its copies run: they end by their deadline, then ' +
      'the copy channel closes; close() of the split frees the rest at once',
    async (t) => {
      // v2 never answers: copies end by their deadline, or by close().
      const v1 = await startRecordingServer('v1', (request): Answer => ({ reply: { text: request.text } }));
      const v2 = await startRecordingServer('v2', () => new Promise<Answer>(() => {}));
      closeAfter(t, v1, v2);
      const before = activeResources();
      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
      const short = echoClient(split.target, split.withChannelOptions({}));
      const long = echoClient(split.target, split.withChannelOptions({ 'grpc.keepalive_time_ms': 600_000 }));
      connect(short, long);
      await waitForSubsetsReady(split);
      split.setMirror({ subset: 'v2', percent: 100, timeoutMs: 300 });
      await callEcho(short, { text: 'short' });
      await eventually(
        () => v2.inFlight() === 1,
        () => `${v2.inFlight()} copies on v2`,
      );
      short.close();
      // Its copy ends by its own deadline (not cancelled by the close), and counts as failed.
      await eventually(
        () => split.stats().mirror!.completed === 1,
        () => JSON.stringify(split.stats().mirror),
      );
      assert.deepEqual(split.stats().mirror!.codes, { DEADLINE_EXCEEDED: 1 });
      split.setMirror({ subset: 'v2', percent: 100, timeoutMs: 60_000 });
      for (let i = 0; i < 3; i++) await callEcho(long, { text: `long-${i}` });
      await eventually(
        () => v2.inFlight() === 3,
        () => `${v2.inFlight()} copies on v2`,
      );
      split.close();
      await eventually(
        () => split.stats().mirror!.completed === 3,
        () => JSON.stringify(split.stats().mirror),
      );
      assert.deepEqual(split.stats().mirror!.codes, { CANCELLED: 3 });
      long.close();
      await eventually(
        () => v2.inFlight() === 0,
        () => `v2 still handles ${v2.inFlight()} copies`,
      );
      await eventually(
        () => lasting(before) === '',
        () => lasting(before),
      );
    },
  );

  it(
    "follows the mirror subset's endpoints without a resolution loop: " +
      'copies fail on an endpoint that is down, then reach its replacement',
    async (t) => {
      const name = `mirror-channels-moved-${process.pid}`;
      const dead = await startRecordingServer('dead', (request): Answer => ({ reply: { text: request.text } }));
      dead.kill();
      const v1 = await startRecordingServer('v1', (request): Answer => ({ reply: { text: request.text } }));
      const v2 = await startRecordingServer('v2', (request): Answer => ({ reply: { text: request.text } }));
      const port = (target: string): number => Number(target.split(':').at(-1));
      const clock = new FakeClock();
      const split = new TrafficSplit({
        subsets: { v1: v1.target, v2: setManualEndpoints(name, [port(dead.target)]) },
        weights: { v1: 100, v2: 0 },
        clock,
        reresolveIntervalMs: 60_000,
      });
      const client = echoClient(split.target, split.withChannelOptions({}));
      closeAfter(t, client, split, v1, v2);
      connect(client);
      await waitForSubsetsReady(split, ['v1']);
      split.setMirror({ subset: 'v2', percent: 100, compare: true, timeoutMs: 5_000 });
      const startedAt = performance.now();
      const resolutionsBefore = manualResolutions(name);
      for (let i = 0; i < 5; i++) await callEcho(client, { text: `before-${i}` });
      await copiesSettled(split);
      assert.deepEqual(split.stats().mirror!.codes, { UNAVAILABLE: 5 });
      // The endpoint moves. Copies go on failing until the copy channel resolves again: at most a
      // second after its last resolution, however often its failed connects ask.
      setManualEndpoints(name, [port(v2.target)]);
      for (let i = 0; v2.received.length === 0; i++) {
        assert.ok(i < 400, 'no copy reached the new endpoint');
        await callEcho(client, { text: `after-${i}` });
        await copiesSettled(split);
      }
      const seconds = (performance.now() - startedAt) / 1000;
      const resolutions = manualResolutions(name) - resolutionsBefore;
      t.diagnostic(
        `${resolutions} resolutions of the subset by the copy channel ` +
          `in ${seconds.toFixed(2)} s; copies ${JSON.stringify(split.stats().mirror!.codes)}`,
      );
      assert.ok(resolutions <= Math.ceil(seconds) + 2, `${resolutions} resolutions in ${seconds.toFixed(2)} s`);
      const mirror = split.stats().mirror!;
      assert.deepEqual([mirror.matched, mirror.failed + mirror.matched], [1, mirror.completed]);
    },
  );

  it(
    "carries the split's authority: a copy passes the TLS name check its primary does",
    { skip: hasOpenssl() ? false : 'the openssl CLI is not installed' },
    async (t) => {
      const pki = makeTestPki();
      const credentials = grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: pki.good.key, cert_chain: pki.good.cert }],
        false,
      );
      const v1 = await startServer('v1', 0, credentials);
      const v2 = await startServer('v2', 0, credentials);
      // The certificate is for good.test; the subsets are reached by address.
      const split = new TrafficSplit({
        subsets: { v1: v1.target, v2: v2.target },
        weights: { v1: 100, v2: 0 },
        authority: 'good.test',
      });
      const client = echoClient(split.target, split.withChannelOptions({}), grpc.credentials.createSsl(pki.ca));
      t.after(async () => {
        client.close();
        split.close();
        await v1.kill();
        await v2.kill();
      });
      connect(client);
      await waitForSubsetsReady(split);
      split.setMirror({ subset: 'v2', percent: 100, compare: true });
      for (let i = 0; i < 4; i++) assert.equal((await callEcho(client, { text: `tls-${i}` })).server, 'v1');
      await copiesSettled(split);
      const mirror = split.stats().mirror!;
      assert.deepEqual([mirror.sent, mirror.failed, mirror.completed], [4, 0, 4], JSON.stringify(mirror.codes));
    },
  );
});

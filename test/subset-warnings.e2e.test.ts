import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { echoClient, echoHandlers, echoService } from './helpers/echo-service.js';
import { startServer, type TestServer } from './helpers/servers.js';
import { connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

// Every line grpc-js's logger receives in this process (each test file runs in its own process).
const lines: string[] = [];
const capture = (message: unknown, ...rest: unknown[]) => void lines.push([message, ...rest].join(' '));

const FAST_RECONNECT = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 300 };
const warnings = () => lines.filter((line) => line.startsWith('traffic_split: warning:'));
const left = (subset: string) =>
  warnings().filter((line) => line.includes(`subset "${subset}"`) && line.includes(' left READY '));
const back = (subset: string) =>
  warnings().filter((line) => line.includes(`subset "${subset}"`) && line.includes(' is READY again'));

/** A TCP port that accepts and drops every connection: each reconnection round fails there. */
async function refuser(port = 0): Promise<{ port: number; attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0;
  const server = createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  // The port of a server just killed may take a moment to be released: bounded retries.
  for (let attempt = 1; ; attempt++) {
    server.listen(port, '127.0.0.1');
    try {
      await once(server, 'listening');
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return {
    port: (server.address() as AddressInfo).port,
    attempts: () => attempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('warnings when a weighted subset leaves READY and comes back', () => {
  before(() => {
    grpc.setLogger({ error: capture, info: capture, debug: capture });
    grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
  });
  after(() => grpc.setLogger(console));

  it('logs one line per transition across two channels, through two outages of v2', async (t) => {
    lines.length = 0;
    const v1 = await startServer('v1');
    let v2: TestServer = await startServer('v2');
    const split = new TrafficSplit({
      name: 'logs',
      subsets: { v1: v1.target, v2: v2.target },
      weights: { v1: 50, v2: 50 },
    });
    const clients = [
      echoClient(split.target, split.withChannelOptions(FAST_RECONNECT)),
      echoClient(split.target, split.withChannelOptions(FAST_RECONNECT)),
    ];
    t.after(async () => {
      for (const client of clients) client.close();
      split.close();
      await Promise.all([v1.kill(), v2.kill()]);
    });
    connect(...clients);
    await waitForSubsetsReady(split);
    assert.equal(split.stats().channels, 2);
    assert.deepEqual(warnings(), []);
    for (let outage = 1; outage <= 2; outage++) {
      await v2.kill();
      const down = await refuser(v2.port);
      await eventually(
        () => left('v2').length === outage,
        () => JSON.stringify(warnings()),
        10_000,
      );
      // Both channels see v2 fail and try it again several times while it is down.
      await eventually(
        () => (split.stats().subsets['v2']!.channels.TRANSIENT_FAILURE ?? 0) === 2,
        () => JSON.stringify(split.stats().subsets['v2']),
        10_000,
      );
      await eventually(
        () => down.attempts() >= 6,
        () => `${down.attempts()} connection attempts`,
        10_000,
      );
      assert.equal(left('v2').length, outage);
      await down.close();
      v2 = await startServer('v2', v2.port);
      await waitForSubsetsReady(split, ['v2'], 10_000);
      await eventually(
        () => back('v2').length === outage,
        () => JSON.stringify(warnings()),
        10_000,
      );
      assert.equal(left('v2').length, outage);
    }
    // A new channel that starts while no other channel has v2 READY is starting, not losing it.
    for (const client of clients) client.close();
    await eventually(
      () => split.stats().channels === 0,
      () => JSON.stringify(split.stats()),
      10_000,
    );
    const fresh = echoClient(split.target, split.withChannelOptions(FAST_RECONNECT));
    clients.push(fresh);
    connect(fresh);
    await waitForSubsetsReady(split);
    assert.equal(warnings().length, 4, warnings().join('\n'));
    assert.match(
      left('v2')[0]!,
      /^traffic_split: warning: split "logs": subset "v2" \(weight 50\) left READY \((?:CONNECTING|TRANSIENT_FAILURE|IDLE) in [12] channel\(s\)(?:, (?:CONNECTING|TRANSIENT_FAILURE|IDLE) in 1 channel\(s\))?\); it gets no calls until it is back; (?:no error reported yet|last error: .+)$/,
    );
    assert.equal(
      back('v2')[0],
      'traffic_split: warning: split "logs": subset "v2" (weight 50) is READY again and gets its share of calls',
    );
  });

  it('logs once for a weighted subset that never becomes READY, and nothing for one at weight 0', async (t) => {
    lines.length = 0;
    const v1 = await startServer('v1');
    const dead = await refuser();
    const deadTarget = `ipv4:127.0.0.1:${dead.port}`;
    const split = new TrafficSplit({
      name: 'never',
      subsets: { v1: v1.target, v2: deadTarget, v3: deadTarget },
      weights: { v1: 50, v2: 50, v3: 0 },
    });
    const client = echoClient(split.target, split.withChannelOptions(FAST_RECONNECT));
    t.after(async () => {
      client.close();
      split.close();
      await Promise.all([v1.kill(), dead.close()]);
    });
    connect(client);
    await waitForSubsetsReady(split, ['v1']);
    await eventually(
      () => ['v2', 'v3'].every((name) => split.stats().subsets[name]!.state === 'TRANSIENT_FAILURE'),
      () => JSON.stringify(split.stats().subsets),
      10_000,
    );
    // Several reconnection rounds of both subsets later, still one line.
    const seen = dead.attempts();
    await eventually(
      () => dead.attempts() >= seen + 6,
      () => `${dead.attempts()} connection attempts`,
      10_000,
    );
    assert.deepEqual(
      warnings().map((line) => line.replace(/; (?:no error reported yet|last error: .+)$/, '')),
      [
        'traffic_split: warning: split "never": subset "v2" (weight 50) has not become ' +
          'READY (TRANSIENT_FAILURE in 1 channel(s)); it gets no calls until it is back',
      ],
    );
    assert.match(warnings()[0]!, /; last error: .+$/);
  });

  it('logs nothing while a subset reconnects after each GOAWAY without failing', async (t) => {
    lines.length = 0;
    const v1 = await startServer('v1');
    // v2 ends every connection after 200 ms with a GOAWAY; the client reconnects at once.
    const server = new grpc.Server({ 'grpc.max_connection_age_ms': 200, 'grpc.max_connection_age_grace_ms': 50 });
    server.addService(echoService, echoHandlers('v2'));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      ),
    );
    let connections = 0;
    const onSocket = (message: unknown) => {
      if ((message as { socket: { localPort?: number } }).socket.localPort === port) connections++;
    };
    dc.subscribe('net.server.socket', onSocket);
    const split = new TrafficSplit({
      name: 'goaway',
      subsets: { v1: v1.target, v2: `ipv4:127.0.0.1:${port}` },
      weights: { v1: 50, v2: 50 },
    });
    const client = echoClient(split.target, split.withChannelOptions(FAST_RECONNECT));
    t.after(async () => {
      dc.unsubscribe('net.server.socket', onSocket);
      client.close();
      split.close();
      server.forceShutdown();
      await v1.kill();
    });
    connect(client);
    await waitForSubsetsReady(split);
    await eventually(
      () => connections >= 5,
      () => `${connections} connections to v2`,
      15_000,
    );
    await waitForSubsetsReady(split, ['v2'], 10_000);
    assert.deepEqual(warnings(), []);
  });
});

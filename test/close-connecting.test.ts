/**
 * close() while a channel is still connecting: every backend connection must be released, even
 * one whose TCP connect had already finished when the split went away.
 */
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { startServer } from './helpers/servers.js';
import { eventually } from './helpers/split-helpers.js';

const CYCLES = 40;

describe('close() while connecting', () => {
  it(`releases every backend socket over ${CYCLES} cycles of connect-then-close`, async (t) => {
    const v1 = await startServer('v1');
    const v2 = await startServer('v2');
    t.after(() => Promise.all([v1.kill(), v2.kill()]));
    const acceptedBefore = v1.accepted() + v2.accepted();
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const split = new TrafficSplit({
        name: `connecting-${cycle}`,
        subsets: { v1: v1.target, v2: v2.target },
        weights: { v1: 1, v2: 1 },
      });
      const client = echoClient(split.target, split.channelOptions);
      // A call starts the connect. The close comes at the moment a server accepts the TCP
      // connection (node announces it synchronously), or a few turns later: the client's side of
      // that connection is then between its TCP connect and its HTTP/2 session.
      const closed = new Promise<void>((resolve) => {
        const onAccept = (): void => {
          dc.unsubscribe('net.server.socket', onAccept);
          const close = (): void => {
            split.close();
            client.close();
            resolve();
          };
          if (cycle % 4 === 0) close();
          else if (cycle % 4 === 1) queueMicrotask(close);
          else if (cycle % 4 === 2) process.nextTick(close);
          else setImmediate(close);
        };
        dc.subscribe('net.server.socket', onAccept);
      });
      callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 5_000 }).catch(() => undefined);
      await closed;
    }
    const open = () => v1.open() + v2.open();
    t.diagnostic(
      `${v1.accepted() + v2.accepted() - acceptedBefore} connections ` +
        `accepted; ${open()} open right after the last close`,
    );
    // grpc-js closes a connection it no longer needs at once; a leaked one stays open for good.
    await eventually(
      () => open() === 0,
      () => `${open()} backend connection(s) still open`,
      10_000,
    );
    assert.equal(open(), 0);
  });
});

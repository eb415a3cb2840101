/**
 * A client built from `split.target` without the split's options: one warning per channel in
 * grpc-js's log at its first call, and `route()` calls that fail with a status saying why instead
 * of going wherever the weights send them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TrafficSplit } from '../src/index.js';
import { callEcho, echoClient, type EchoClientInstance, type EchoReply } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';
import { closeAfter } from './helpers/split-helpers.js';

// Every line grpc-js's logger receives in this process (each test file runs in its own process).
const lines: string[] = [];
const capture = (message: unknown, ...rest: unknown[]) => void lines.push([message, ...rest].join(' '));
const warnings = (split: TrafficSplit) =>
  lines.filter((line) =>
    line.startsWith(
      `traffic_split: warning: split "${split.name}": a client built from its target makes calls without`,
    ),
  );

const NOT_HONOURED =
  'UNAVAILABLE: Getting metadata from plugin failed with error: ' +
  'traffic_split: route() call options of split "lonely" cannot be honoured: ' +
  "this client lacks the split's interceptor; build the client from split.target with split.channelOptions, " +
  'or with split.withChannelOptions({ interceptors: [...yours] }) to add your own interceptors';

function outcome(call: Promise<EchoReply>): Promise<string> {
  return call.then(
    (reply) => reply.server,
    (error: grpc.ServiceError) => `${grpc.status[error.code]}: ${error.details}`,
  );
}

async function outcomes(n: number, call: () => Promise<EchoReply>): Promise<string[]> {
  const results: string[] = [];
  for (let i = 0; i < n; i++) results.push(await outcome(call()));
  return results;
}

/** Lets the microtask that logs the warning run. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("a client built from split.target without the split's options", () => {
  before(() => {
    grpc.setLogger({ error: capture, info: capture, debug: capture });
    grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
  });
  after(() => grpc.setLogger(console));

  it('logs one warning per channel at its first call, and fails route() calls rather than send them elsewhere', async (t) => {
    lines.length = 0;
    // Every unrouted call goes to v1: a route to v2 that were ignored would reach v1.
    const { split, client: own } = await rig(t, { v1: 100, v2: 0 }, { name: 'lonely' }, () => ({}));
    const other: EchoClientInstance = echoClient(split.target);
    closeAfter(t, other);
    assert.deepEqual(warnings(split), [], 'nothing before the first call');

    assert.deepEqual(await outcomes(3, () => callEcho(own)), ['v1', 'v1', 'v1']);
    await settled();
    assert.equal(warnings(split).length, 1, lines.join('\n'));
    assert.ok(warnings(split)[0]!.includes('split.channelOptions'), warnings(split)[0]);

    const toV2 = () => callEcho(own, {}, new grpc.Metadata(), split.route({ subset: 'v2' }));
    assert.deepEqual(await outcomes(4, toV2), Array(4).fill(NOT_HONOURED));
    // A key route cannot be honoured either; under wait-for-ready too.
    const keyed = await outcome(
      callEcho(own, {}, new grpc.Metadata({ waitForReady: true }), split.route({ key: 'user-1' })),
    );
    assert.equal(keyed, NOT_HONOURED);
    // Nothing of the routed calls reached a server: v1 ran the three plain calls only.
    const stats = split.stats().subsets;
    assert.deepEqual([stats['v1']!.started, stats['v2']!.started], [3, 0]);

    // The client's channel said it once; a second channel says it once too.
    assert.equal(await outcome(callEcho(other)), 'v1');
    await settled();
    assert.equal(warnings(split).length, 2, lines.join('\n'));
    assert.deepEqual(await outcomes(3, () => callEcho(other)), ['v1', 'v1', 'v1']);
    await settled();
    assert.equal(warnings(split).length, 2);
  });

  it("logs nothing for clients with the split's options, and honours route() there and with the interceptor alone", async (t) => {
    lines.length = 0;
    const { split, client } = await rig(t, { v1: 100, v2: 0 }, { name: 'proper' });
    const interceptorOnly = echoClient(split.target, { interceptors: [split.interceptor] });
    closeAfter(t, interceptorOnly);
    for (const c of [client, interceptorOnly]) {
      assert.deepEqual(await outcomes(2, () => callEcho(c, {}, new grpc.Metadata(), split.route({ subset: 'v2' }))), [
        'v2',
        'v2',
      ]);
      assert.equal(await outcome(callEcho(c)), 'v1');
    }
    // Call credentials of the application's own, set over the route's, are kept.
    const seen: string[] = [];
    const mine = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      seen.push('mine');
      callback(null, new grpc.Metadata());
    });
    assert.equal(
      await outcome(
        callEcho(client, {}, new grpc.Metadata(), { ...split.route({ subset: 'v2' }), credentials: mine }),
      ),
      'v2',
    );
    assert.deepEqual(seen, ['mine']);
    await settled();
    assert.deepEqual(warnings(split), []);
  });
});

/**
 * `route()` combined with call credentials of the application (adversary review of issue 19):
 * on a client without the split's options the route cannot be honoured, and the call must fail
 * rather than go wherever the weights send it, credentials of the application or not; on a
 * client with them the route is taken and the application's credentials still run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { callEcho, echoClient, type EchoReply } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';
import { closeAfter } from './helpers/split-helpers.js';

const NOT_HONOURED =
  'UNAVAILABLE: Getting metadata from plugin failed with error: ' +
  'traffic_split: route() call options of split "creds" cannot be honoured';

/** Call credentials of the application: they add `x-app-token`. */
const mine = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
  const metadata = new grpc.Metadata();
  metadata.set('x-app-token', 'secret');
  callback(null, metadata);
});

function outcome(call: Promise<EchoReply>): Promise<string> {
  return call.then(
    (reply) => `${reply.server}${reply.metadataKeys!.includes('x-app-token') ? ' +token' : ''}`,
    (error: grpc.ServiceError) => `${grpc.status[error.code]}: ${error.details}`.slice(0, NOT_HONOURED.length),
  );
}

describe('route() with call credentials of the application', () => {
  it("fails on a client without the split's options, and routes with the credentials on one with them", async (t) => {
    // Every unrouted call goes to v1: a route to v2 that were ignored would reach v1.
    const { split, client } = await rig(t, { v1: 100, v2: 0 }, { name: 'creds' });
    const bare = echoClient(split.target);
    closeAfter(t, bare);
    const routed = () => split.route({ subset: 'v2' }, { credentials: mine });
    for (let i = 0; i < 5; i++) {
      assert.equal(await outcome(callEcho(bare, {}, new grpc.Metadata(), routed())), NOT_HONOURED);
      assert.equal(await outcome(callEcho(client, {}, new grpc.Metadata(), routed())), 'v2 +token');
    }
    // Other options given to route() are kept.
    const late = await outcome(
      callEcho(
        client,
        {},
        new grpc.Metadata(),
        split.route({ subset: 'v2' }, { credentials: mine, deadline: Date.now() - 1 }),
      ),
    );
    assert.ok(late.startsWith('DEADLINE_EXCEEDED'), late);
    // No routed call reached v1 (the late one may have started on v2 before its deadline hit).
    assert.equal(split.stats().subsets['v1']!.started, 0);
    assert.ok(split.stats().subsets['v2']!.started >= 5);
    assert.throws(() => split.route({ subset: 'v2' }, 'x' as never), /options/);
  });
});

/**
 * Subset targets are checked at construction by grpc-js's own rules: what a channel could never
 * resolve is refused naming the field; what grpc-js sends to `dns:` (a bare host:port) passes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { parseConfig, register, TrafficSplit, TrafficSplitTypeError } from '../src/index.js';
import { TrafficSplitResolver } from '../src/policy/balancer/resolver.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { setManualEndpoints } from './helpers/manual-resolver.js';
import { startServer } from './helpers/servers.js';

const EXPECTATION = 'expected a grpc-js target URI with a registered scheme (dns, ipv4, ipv6, unix, ...)';

const refused: [name: string, target: string][] = [
  ['not a URI', 'not a uri'],
  ['a scheme grpc-js has no resolver for', 'http://host:80'],
  ['dns: without a host', 'dns:///'],
  ['a host with a space', 'dns:///reporter v2:9090'],
  ['ipv4: with a name', 'ipv4:localhost:1'],
  ['ipv4: with a bad address in a list', 'ipv4:127.0.0.1:1,127.0.0.1:x'],
  ['ipv6: with an IPv4 address', 'ipv6:127.0.0.1'],
  ['a port that does not exist', 'dns:///reporter:70000'],
  ['a bare host and a bad port', 'localhost:port'],
];

const accepted: [name: string, target: string][] = [
  ['dns:///host:port', 'dns:///reporter-v1.prod.svc:9090'],
  ['dns: with a DNS server', 'dns://127.0.0.53/reporter:9090'],
  ['dns: without a port', 'dns:reporter'],
  ['a bare host:port (grpc-js resolves it with dns:)', 'localhost:50051'],
  ['a bare IPv4 address and port', '127.0.0.1:50051'],
  ['a bare bracketed IPv6 address and port', '[::1]:50051'],
  ['a bare host name', 'reporter.prod.svc'],
  ['ipv4: lists', 'ipv4:127.0.0.1:1,127.0.0.2:2'],
  ['ipv6:', 'ipv6:[::1]:1'],
  ['unix:', 'unix:///run/reporter.sock'],
  ['a scheme registered by the application', 'manual:///anything'],
];

describe('subset targets', () => {
  setManualEndpoints('targets-test', []);

  for (const [name, target] of refused) {
    it(`refuses ${name} (${JSON.stringify(target)}) at construction and in a service config`, () => {
      const message = `subsets.v2: ${EXPECTATION}, got \`${JSON.stringify(target)}\` (string)`;
      assert.throws(
        () => new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1', v2: target }, weights: { v1: 1, v2: 1 } }),
        (error: unknown) => {
          assert.ok(error instanceof TrafficSplitTypeError);
          assert.equal(error.message, message);
          return true;
        },
      );
      assert.throws(
        () => parseConfig({ subsets: { v1: 'ipv4:127.0.0.1:1', v2: target }, weights: { v1: 1, v2: 1 } }),
        { message: `traffic_split: ${message}` },
      );
    });
  }

  for (const [name, target] of accepted) {
    it(`accepts ${name} (${JSON.stringify(target)})`, () => {
      const split = new TrafficSplit({ subsets: { v1: target }, weights: { v1: 1 } });
      split.close();
      assert.deepEqual(parseConfig({ subsets: { v1: target }, weights: { v1: 1 } }).subsets, { v1: target });
    });
  }

  it('serves a subset given as a bare 127.0.0.1:port, as a plain channel does', async (t) => {
    register();
    const v1 = await startServer('v1');
    const bare = `127.0.0.1:${v1.port}`;
    const split = new TrafficSplit({ subsets: { v1: bare }, weights: { v1: 1 } });
    const client = echoClient(split.target, split.channelOptions);
    const plain = echoClient(bare);
    t.after(async () => {
      client.close();
      plain.close();
      split.close();
      await v1.kill();
    });
    // The authority is the whole host:port, as a plain channel to that target sends.
    assert.equal(
      TrafficSplitResolver.getDefaultAuthority({
        scheme: 'traffic-split',
        path: split.target.slice('traffic-split:///'.length),
      }),
      bare,
    );
    const options = { deadline: Date.now() + 10_000 };
    assert.equal((await callEcho(client, {}, new grpc.Metadata(), options)).server, 'v1');
    assert.equal((await callEcho(plain, {}, new grpc.Metadata(), options)).server, 'v1');
  });
});

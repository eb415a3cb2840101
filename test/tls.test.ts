/**
 * TLS and mTLS through a split behave exactly as on a plain grpc-js channel: the credentials are
 * the channel's, the name checked is the split's `authority` (or `grpc.ssl_target_name_override`),
 * and every failure is an UNAVAILABLE that says why, never a silent fallback to plaintext.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { echoClient, type EchoClientInstance } from './helpers/echo-service.js';
import { loopbackTarget } from './helpers/loopback-resolver.js';
import { startServer, type TestServer } from './helpers/servers.js';
import { connect, waitForSubsetsReady } from './helpers/split-helpers.js';
import { hasOpenssl, makeTestPki, type TestPki } from './helpers/tls.js';

type Outcome = { ok: true; server: string } | { ok: false; code: string; details: string };

function outcome(client: EchoClientInstance): Promise<Outcome> {
  return new Promise((resolve) => {
    client.echo({}, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (error, reply) => {
      if (error)
        resolve({
          ok: false,
          code: grpc.status[(error as grpc.ServiceError).code],
          details: (error as grpc.ServiceError).details,
        });
      else resolve({ ok: true, server: reply!.server });
    });
  });
}

interface Pair {
  split: Outcome;
  plain: Outcome;
}

const openssl = hasOpenssl();

describe('TLS and mTLS through a split', { skip: openssl ? false : 'the openssl CLI is not installed' }, () => {
  let pki: TestPki;
  const servers: TestServer[] = [];
  const cleanups: (() => void)[] = [];
  let good: TestServer;
  let goodToo: TestServer;
  let other: TestServer;
  let mutual: TestServer;
  let plaintext: TestServer;

  before(async () => {
    pki = makeTestPki();
    const tls = (pair: { key: Buffer; cert: Buffer }, clientCa: Buffer | null = null) =>
      grpc.ServerCredentials.createSsl(
        clientCa,
        [{ private_key: pair.key, cert_chain: pair.cert }],
        clientCa !== null,
      );
    servers.push(
      (good = await startServer('good', 0, tls(pki.good))),
      (goodToo = await startServer('good-too', 0, tls(pki.good))),
      (other = await startServer('other', 0, tls(pki.other))),
      (mutual = await startServer('mutual', 0, tls(pki.good, pki.ca))),
      (plaintext = await startServer('plaintext')),
    );
  });

  after(async () => {
    for (const cleanup of cleanups) cleanup();
    await Promise.all(servers.map((s) => s.kill()));
  });

  /**
   * One call through a split over `server` with authority `good.test`, and one through a plain
   * channel to `loopback:///good.test:<port>` (default authority `good.test:<port>`), with the
   * same credentials and options.
   */
  async function both(
    server: TestServer,
    credentials: grpc.ChannelCredentials,
    options: grpc.ChannelOptions = {},
  ): Promise<Pair> {
    const split = new TrafficSplit({ subsets: { v1: server.target }, weights: { v1: 1 }, authority: 'good.test' });
    const splitClient = echoClient(split.target, { ...split.channelOptions, ...options }, credentials);
    const plainClient = echoClient(loopbackTarget('good.test', server.port), options, credentials);
    cleanups.push(() => {
      splitClient.close();
      plainClient.close();
      split.close();
    });
    return { split: await outcome(splitClient), plain: await outcome(plainClient) };
  }

  /** Both failed with UNAVAILABLE; the plain channel's details match `reason`, and the split's
   * name the subset with the same reason as its last error. */
  function assertBothFail(pair: Pair, reason: RegExp): void {
    for (const result of [pair.split, pair.plain]) {
      assert.equal(result.ok, false, JSON.stringify(pair));
      assert.equal((result as { code: string }).code, 'UNAVAILABLE', JSON.stringify(pair));
    }
    const plain = (pair.plain as { details: string }).details;
    const split = (pair.split as { details: string }).details;
    assert.match(plain, reason);
    assert.match(
      split,
      /^traffic_split: no weighted subset is READY; v1 \(weight 1\): TRANSIENT_FAILURE \(last error: /,
    );
    assert.match(split, reason);
  }

  it('serves calls over TLS from every subset when the certificate is for the split authority', async (t) => {
    const split = new TrafficSplit({
      subsets: { v1: good.target, v2: goodToo.target },
      weights: { v1: 1, v2: 1 },
      authority: 'good.test',
    });
    const client = echoClient(split.target, split.channelOptions, grpc.credentials.createSsl(pki.ca));
    t.after(() => {
      client.close();
      split.close();
    });
    connect(client);
    await waitForSubsetsReady(split);
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const result = await outcome(client);
      assert.ok(result.ok, JSON.stringify(result));
      seen.push(result.server);
    }
    assert.deepEqual(seen.sort(), [...Array(5).fill('good'), ...Array(5).fill('good-too')]);
    assert.deepEqual(await both(good, grpc.credentials.createSsl(pki.ca)), {
      split: { ok: true, server: 'good' },
      plain: { ok: true, server: 'good' },
    });
  });

  it(
    'rejects a certificate for another name, as a plain ' +
      'channel does, unless grpc.ssl_target_name_override names it',
    async () => {
      const mismatch = await both(other, grpc.credentials.createSsl(pki.ca));
      assertBothFail(
        mismatch,
        /Hostname\/IP does not match certificate's altnames: Host: good\.test\. is not in the cert's altnames: DNS:other\.test/,
      );
      const overridden = await both(other, grpc.credentials.createSsl(pki.ca), {
        'grpc.ssl_target_name_override': 'other.test',
      });
      assert.deepEqual(overridden, { split: { ok: true, server: 'other' }, plain: { ok: true, server: 'other' } });
    },
  );

  it('fails with UNAVAILABLE and a certificate error when the server is not signed by the trusted CA', async () => {
    assertBothFail(
      await both(good, grpc.credentials.createSsl(pki.wrongCa)),
      /unable to verify the first certificate|unable to get local issuer certificate/,
    );
  });

  it('never falls back to plaintext: TLS to a plaintext server and plaintext to a TLS server both fail', async () => {
    assertBothFail(await both(plaintext, grpc.credentials.createSsl(pki.ca)), /wrong version number/);
    assertBothFail(
      await both(good, grpc.credentials.createInsecure()),
      /Failed to connect|Connection dropped|ECONNRESET/,
    );
  });

  it('serves mTLS with a client certificate and is refused without one', async () => {
    const withCert = await both(mutual, grpc.credentials.createSsl(pki.ca, pki.client.key, pki.client.cert));
    assert.deepEqual(withCert, { split: { ok: true, server: 'mutual' }, plain: { ok: true, server: 'mutual' } });
    // TLS 1.3: the server's alert 116; TLS 1.2 would say handshake failure.
    assertBothFail(await both(mutual, grpc.credentials.createSsl(pki.ca)), /certificate required|handshake failure/);
  });
});

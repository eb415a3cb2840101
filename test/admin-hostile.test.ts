import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { TrafficSplit } from '../src/index.js';
import { startAdminServer, type AdminServer, type AdminServerOptions } from '../src/ops/index.js';
import { eventually } from './helpers/split-helpers.js';
import { MAX_PIPELINED_REQUESTS } from '../src/ops/admin/admin-connections.js';

const TOKEN = 'test-token-0123456789abcdef';

async function adminFor(
  t: TestContext,
  options: Partial<AdminServerOptions> = {},
): Promise<{ split: TrafficSplit; server: AdminServer }> {
  const split = new TrafficSplit({
    subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' },
    weights: { v1: 1, v2: 0 },
  });
  const server = await startAdminServer(split, { port: 0, token: TOKEN, ...options });
  t.after(async () => {
    await server.close();
    split.close();
  });
  return { split, server };
}

/** A raw connection that records what it receives and when it closes. */
interface Raw {
  socket: Socket;
  received: string;
  closed: Promise<void>;
  isClosed: boolean;
  written: number;
}

async function raw(server: AdminServer, t: TestContext): Promise<Raw> {
  const socket = connect(server.port, '127.0.0.1');
  // Not events.once: it would reject on the 'error' (a reset) that comes before 'close'.
  const conn: Raw = {
    socket,
    received: '',
    closed: new Promise((resolve) => socket.once('close', () => resolve())),
    isClosed: false,
    written: 0,
  };
  void conn.closed.then(() => (conn.isClosed = true));
  socket.on('data', (chunk: Buffer) => (conn.received += chunk.toString('latin1')));
  socket.on('error', () => {}); // resets are expected: the server closes on purpose
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  return conn;
}

function ask(
  server: AdminServer,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.url}${path}`, { headers, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with `promise`, or rejects once `ms` have passed: a hang guard, not a measurement. */
function guard<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('admin endpoint under hostile clients', () => {
  it('keeps answering with 300 slowloris connections open, and closes them all by the request deadline', async (t) => {
    const { server } = await adminFor(t, { requestTimeoutMs: 1_000, maxConnections: 64 });
    const slow: Raw[] = [];
    const trickles: NodeJS.Timeout[] = [];
    t.after(() => trickles.forEach(clearInterval));
    for (let i = 0; i < 300; i++) {
      const conn = await raw(server, t);
      conn.socket.write('GET /weights HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      // One byte every 100 ms, at most 200 of them: a header that never ends.
      let sent = 0;
      const trickle = setInterval(() => {
        if (conn.isClosed || ++sent > 200) clearInterval(trickle);
        else conn.socket.write('a');
      }, 100);
      trickles.push(trickle);
      slow.push(conn);
    }
    // The cap: of 300, at least 236 were closed to make room (oldest first).
    await eventually(
      () => slow.filter((c) => !c.isClosed).length <= 64,
      () => `${slow.filter((c) => !c.isClosed).length} slow connections open`,
      30_000,
    );
    const answer = await ask(server, '/weights', {});
    assert.deepEqual(answer, { status: 200, json: { v1: 1, v2: 0 } });
    // Every slow one is closed by its deadline, without an answer (it never sent a request).
    await guard(Promise.all(slow.map((c) => c.closed)), 30_000, 'closing 300 slow connections');
    assert.equal(slow.filter((c) => c.received !== '').length, 0);
  });

  it('closes a connection whose headers take longer than the deadline even while bytes trickle in', async (t) => {
    const { server } = await adminFor(t, { requestTimeoutMs: 500 });
    const conn = await raw(server, t);
    conn.socket.write('GET /weights HTTP/1.1\r\n');
    const trickle = setInterval(() => conn.isClosed || conn.socket.write('X-A: b\r\n'), 50);
    t.after(() => clearInterval(trickle));
    await guard(conn.closed, 30_000, 'a trickling connection');
    clearInterval(trickle);
    assert.equal(conn.received, '');
  });

  it('answers 401 to an unauthenticated 100 MB upload at once and closes instead of reading it', async (t) => {
    const { split, server } = await adminFor(t);
    const conn = await raw(server, t);
    const total = 100 * 1024 * 1024;
    conn.socket.write(
      `PUT /weights HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`,
    );
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    while (!conn.isClosed && !conn.socket.destroyed && conn.written < total) {
      conn.written += chunk.length;
      if (!conn.socket.write(chunk))
        await Promise.race([new Promise((resolve) => conn.socket.once('drain', resolve)), conn.closed]);
    }
    await guard(conn.closed, 30_000, 'the refused upload');
    assert.match(conn.received, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.match(conn.received, /"code": "ERR_ADMIN_UNAUTHORIZED"/);
    assert.ok(conn.written < 32 * 1024 * 1024, `${conn.written} bytes sent before the connection closed`);
    console.log(`refused upload: ${(conn.written / 1024 / 1024).toFixed(1)} MiB of 100 MiB sent before the close`);
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 0 });
  });

  it('answers 408 when the body does not arrive within the deadline', async (t) => {
    const { server } = await adminFor(t, { requestTimeoutMs: 500 });
    const conn = await raw(server, t);
    conn.socket.write(
      `PUT /weights HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ` +
        `Bearer ${TOKEN}\r\nContent-Length: 100\r\n\r\n{"v1": `,
    );
    await guard(conn.closed, 30_000, 'a stalled body');
    assert.match(conn.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(
      conn.received,
      /"error": "the body did not arrive within 500 ms",\n {2}"code": "ERR_ADMIN_REQUEST_TIMEOUT"/,
    );
  });

  it('warns without a stack when a client aborts an upload', async (t) => {
    const { server } = await adminFor(t);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const conn = await raw(server, t);
    conn.socket.write(
      `PUT /weights HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ` +
        `Bearer ${TOKEN}\r\nContent-Length: 1000\r\n\r\n{"v1": 1, `,
    );
    conn.socket.end();
    await guard(conn.closed, 30_000, 'the aborted upload');
    await eventually(
      () => warnings.length > 0,
      () => 'no warning',
      10_000,
    );
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.name, 'TrafficSplitWarning');
    assert.equal((warnings[0] as Error & { code?: string }).code, 'ERR_ADMIN_ABORTED');
    assert.match(
      warnings[0]!.message,
      /^traffic_split: admin endpoint: PUT \/weights: the client closed the connection after \d+ bytes of the body$/,
    );
  });

  it('refuses a Host that is not an address of the endpoint while reads are open (DNS rebinding)', async (t) => {
    const { server } = await adminFor(t, { allowedHosts: ['admin.internal'] });
    const port = server.port;
    const refused = await ask(server, '/stats', { host: `attacker.example:${port}` });
    assert.deepEqual(refused, {
      status: 403,
      json: {
        error:
          `host "attacker.example:${port}" is not allowed: use an ` +
          `IP address or localhost, or list the name in allowedHosts`,
        code: 'ERR_ADMIN_HOST_NOT_ALLOWED',
      },
    });
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST`,
      `[::1]:${port}`,
      `admin.internal:${port}`,
    ]) {
      assert.equal((await ask(server, '/weights', { host })).status, 200, host);
    }
    // With reads protected, the token is what guards them: any name will do.
    const { server: protectedServer } = await adminFor(t, { protectReads: true });
    assert.equal(
      (await ask(protectedServer, '/weights', { host: 'attacker.example', authorization: `Bearer ${TOKEN}` })).status,
      200,
    );
  });

  it('closes a connection that pipelines more than 8 requests without reading, and keeps answering others', async (t) => {
    const { server } = await adminFor(t);
    const conn = await raw(server, t);
    const one = `GET /stats HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`;
    conn.socket.write(one.repeat(3_000));
    await guard(conn.closed, 10_000, 'pipelining connection closed');
    const answered = conn.received.split('HTTP/1.1 200').length - 1;
    // At most the 8 allowed (MAX_PIPELINED_REQUESTS); the other 2,992 are never served.
    assert.equal(MAX_PIPELINED_REQUESTS, 8);
    assert.ok(answered <= 8, `${answered} pipelined requests were answered`);
    assert.equal((await ask(server, '/stats', {})).status, 200);
  });

  it('validates the new options', async (t) => {
    const { split } = await adminFor(t);
    await assert.rejects(startAdminServer(split, { port: 0, maxConnections: 0 }), {
      name: 'TrafficSplitRangeError',
      message: 'maxConnections: expected an integer from 1 to 65535, got `0` (number)',
    });
    await assert.rejects(startAdminServer(split, { port: 0, requestTimeoutMs: 1.5 }), {
      message: 'requestTimeoutMs: expected an integer from 1 to 2147483647, got `1.5` (number)',
    });
    await assert.rejects(startAdminServer(split, { port: 0, allowedHosts: [''] }), {
      message: 'allowedHosts: expected a list of host names such as ["admin.internal"], got `[""]` (array)',
    });
  });
});

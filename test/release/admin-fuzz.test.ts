/**
 * 10,000 random requests to the admin endpoint (every route, and paths beside them): random
 * methods, paths, queries, headers, tokens and bodies (malformed JSON, numbers beyond int64 and
 * float, 30,000 levels of nesting, bodies over the limit, invalid UTF-8), plus a bounded number
 * of raw malformed requests and of slowloris connections whose headers or body never end. The
 * process must stay up, and every answer must be a valid HTTP answer of bounded size. Seeded:
 * FUZZ_SEED=<n> replays a run.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { TrafficSplit } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/ops/index.js';
import { ADMIN_ROUTES } from '../../src/ops/admin/admin-routes.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/ops/admin/admin-options.js';
import { seededRandom } from '../../src/algorithms/random.js';

const TOKEN = 'test-token-0123456789abcdef';
const REQUESTS = 10_000;
const CONCURRENCY = 32;
/** Every answer of this split's endpoint is small; an answer above this is a bug. */
const MAX_ANSWER_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 1_500;

interface Spec {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer | null;
  /** Sent in two writes without Content-Length (chunked). */
  chunked: boolean;
}

interface Outcome {
  spec: Spec;
  status: number | null;
  bytes: number;
  contentType: string | undefined;
  text: string;
  error: string | null;
}

function generator(next: () => number) {
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => next() < p;
  const routes = Object.keys(ADMIN_ROUTES);
  // Random text is cut from pools drawn once: drawing it character by character cost more than
  // the requests.
  const pool = (alphabet: string) => Array.from({ length: 16 * 1024 }, () => alphabet[int(alphabet.length)]).join('');
  const printablePool = pool(Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join(''));
  const urlPool = pool("abcXYZ019-._~%/!$&'()*+,;=:@");
  const cutFrom = (text: string, n: number) => {
    const start = int(text.length - n);
    return text.slice(start, start + n);
  };
  const printable = (n: number) => cutFrom(printablePool, n);
  const urlSafe = (n: number) => cutFrom(urlPool, n);
  const numbers = [
    '0',
    '1',
    '50',
    '100',
    '-1',
    '1e400',
    '-1e400',
    '1e-400',
    'NaN',
    'Infinity',
    '12345678901234567890123456789',
    '9223372036854775807',
    '0x10',
    '1.5',
    '',
    '%20',
    '1_000',
  ];
  const jsonNumbers = [
    '0',
    '1',
    '-0',
    '100',
    '1e400',
    '-1e400',
    '1e-400',
    '12345678901234567890123456789',
    '9223372036854775807',
    '0.1',
    '-5',
    '1E2',
  ];

  function path(): string {
    const route = pick(routes);
    const variants = [
      () => route,
      () => route,
      () => route,
      () =>
        `${route}?${pick(['rebalanceStreamsWithinMs', 'routing.traffic_split.v1', 'routing.traffic_split.v2', 'routing.traffic_split.v3', 'x', ''])}=${pick(numbers)}`,
      () =>
        `/runtime_modify?${Array.from({ length: 1 + int(4) }, () => `${pick(['routing.traffic_split.v1', 'routing.traffic_split.v2', 'routing.traffic_split', 'other.v1'])}=${pick(numbers)}`).join('&')}`,
      () => `${route}/`,
      () => route.toUpperCase(),
      () => `/${route}`,
      () => `${route}%00`,
      () => `/%2e%2e${route}`,
      () => `http://127.0.0.1${route}`,
      () => '*',
      () => `/${urlSafe(1 + int(40))}`,
      () => `/${'a'.repeat(int(8_000))}`,
      () => `${route}?${urlSafe(int(200))}`,
    ];
    return pick(variants)();
  }

  let depth = 100;
  const texts = [
    () => JSON.stringify({ v1: int(200), v2: int(200) }),
    () => `{"v1": ${pick(jsonNumbers)}, "v2": ${pick(jsonNumbers)}}`,
    () =>
      JSON.stringify({
        subset: pick(['v1', 'v2', 'v3']),
        percent: int(150),
        compare: pick([true, false, 'x']),
        keepBodies: chance(0.5),
        maxSamples: int(1_200),
      }),
    () => 'null',
    () =>
      JSON.stringify({
        subset: 'v2',
        steps: [10, 50],
        intervalMs: pick([1, 60_000, 3_600_000]),
        analysis: { maxErrorRate: 0.01, minCalls: int(3) },
      }),
    () =>
      JSON.stringify({
        subset: 'v2',
        steps: [int(120)],
        intervalMs: 60_000,
        shadow: { percent: int(120), minCalls: 1 },
      }),
    () => '{"__proto__": {"v1": 1}, "constructor": {"prototype": {"polluted": true}}, "v1": 1, "v2": 0}',
    () => '{"v1": "\\ud800", "v2": "\u0000"}',
    () => '['.repeat(depth) + ']'.repeat(depth),
    () => '{"a":'.repeat(Math.min(depth, 10_000)) + '1' + '}'.repeat(Math.min(depth, 10_000)),
    () => pick(['{', '{"v1": }', '{"v1": 1,}', '[1, 2', '"unterminated', 'undefined', '{v1: 1}', '']),
    () => printable(int(2_000)),
    () => JSON.stringify({ v1: 1, v2: 'x'.repeat(DEFAULT_MAX_BODY_BYTES) }),
  ];

  /** Mostly for the methods that take one: a body the endpoint does not read costs a new
   * connection (it closes instead of reading), which is what makes such a run slow. */
  function body(method: string): Buffer | null {
    if (!chance(['PUT', 'POST', 'PATCH'].includes(method) ? 0.85 : 0.1)) return null;
    if (chance(0.05)) return Buffer.from(Array.from({ length: 1 + int(500) }, () => int(256)));
    depth = pick([100, 1_000, 10_000, 30_000]);
    return Buffer.from(pick(texts)());
  }

  function headers(): OutgoingHttpHeaders {
    const result: OutgoingHttpHeaders = {};
    const auth = next();
    if (auth < 0.45) result['authorization'] = `Bearer ${TOKEN}`;
    else if (auth < 0.6) result['authorization'] = `Bearer ${TOKEN}x`;
    else if (auth < 0.7)
      result['authorization'] = pick([
        'Basic dXNlcjpwYXNz',
        'Bearer',
        `Bearer ${TOKEN} extra`,
        `bearer   ${TOKEN}`,
        printable(int(4_000)),
      ]);
    if (chance(0.15))
      result['host'] = pick([
        'attacker.example',
        'localhost',
        '[::1]:80',
        'admin.internal',
        'a'.repeat(300),
        '127.0.0.1:1',
        ':::',
        '[',
      ]);
    if (chance(0.5))
      result['content-type'] = pick([
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        printable(30),
      ]);
    for (let i = int(4); i > 0; i--)
      result[`x-fuzz-${i}`] = chance(0.1) ? printable(int(4_000)) : printable(1 + int(40));
    return result;
  }

  return (): Spec => {
    const method = pick([
      'GET',
      'GET',
      'GET',
      'PUT',
      'PUT',
      'POST',
      'POST',
      'DELETE',
      'PATCH',
      'HEAD',
      'OPTIONS',
      'TRACE',
      'PROPFIND',
      'FOO',
    ]);
    return { method, path: path(), headers: headers(), body: body(method), chunked: chance(0.2) };
  };
}

function send(server: AdminServer, agent: Agent, spec: Spec): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const outcome: Outcome = { spec, status: null, bytes: 0, contentType: undefined, text: '', error: null };
    const settle = (error: string | null) => {
      if (settled) return;
      settled = true;
      outcome.error = error;
      resolve(outcome);
    };
    const headers = { ...spec.headers };
    if (spec.body !== null && !spec.chunked) headers['content-length'] = spec.body.length;
    const request = httpRequest(
      { agent, host: '127.0.0.1', port: server.port, method: spec.method, path: spec.path, headers, timeout: 30_000 },
      (response) => {
        outcome.status = response.statusCode ?? null;
        outcome.contentType = response.headers['content-type'];
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          outcome.bytes += chunk.length;
          if (outcome.bytes <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        response.on('end', () => {
          outcome.text = Buffer.concat(chunks).toString();
          settle(null);
        });
        response.on('error', (error: NodeJS.ErrnoException) => settle(`answer: ${error.code ?? error.message}`));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => settle(`request: ${error.code ?? error.message}`));
    request.on('timeout', () => request.destroy(new Error('no answer within 30 s')));
    if (spec.body === null) request.end();
    else if (spec.chunked) {
      request.write(spec.body.subarray(0, spec.body.length >> 1));
      request.end(spec.body.subarray(spec.body.length >> 1));
    } else request.end(spec.body);
  });
}

/** A raw connection that writes `data` and resolves with what came back once the server closed it
 * or answered (the first bytes of an answer are enough). */
async function raw(server: AdminServer, data: string | Buffer, waitForClose: boolean): Promise<string> {
  const socket = connect(server.port, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  const answered = new Promise<void>((resolve) =>
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (!waitForClose) resolve();
    }),
  );
  socket.write(data);
  const guard = setTimeout(() => socket.destroy(), 30_000);
  await Promise.race([closed, answered]);
  clearTimeout(guard);
  socket.destroy();
  return received;
}

describe('admin endpoint under fuzzing', () => {
  it('answers 10,000 random requests with valid, bounded HTTP answers and stays up', async (t) => {
    const seed = Number(process.env['FUZZ_SEED'] ?? 20);
    t.diagnostic(`seed ${seed}`);
    const crashes: unknown[] = [];
    const onCrash = (error: unknown) => crashes.push(error);
    process.on('unhandledRejection', onCrash).on('uncaughtException', onCrash);
    t.after(() => process.off('unhandledRejection', onCrash).off('uncaughtException', onCrash));
    const split = new TrafficSplit({
      subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' },
      weights: { v1: 1, v2: 0 },
    });
    const server = await startAdminServer(split, {
      port: 0,
      token: TOKEN,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      maxConnections: 256,
    });
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    t.after(async () => {
      agent.destroy();
      await server.close();
      split.close();
    });
    const started = Date.now();

    // Slowloris, bounded: bodies and headers that never end, and malformed requests.
    const slow = [
      ...Array.from({ length: 12 }, () =>
        raw(
          server,
          `PUT /weights HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ` +
            `Bearer ${TOKEN}\r\nContent-Length: 100\r\n\r\n{"v1": `,
          true,
        ),
      ),
      ...Array.from({ length: 12 }, () =>
        raw(
          server,
          `PUT /mirror HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ` +
            `Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"sub`,
          true,
        ),
      ),
      ...Array.from({ length: 12 }, () => raw(server, `GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `, true)),
    ];
    // Seeded, so that a failing run can be replayed (FUZZ_SEED).
    const nextRandom = seededRandom(seed);
    const malformed = [
      'GARBAGE\r\n\r\n',
      'GET /stats HTTP/1.1\r\nContent-Length: abc\r\n\r\n',
      'PUT /weights HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"v1"',
      'POST /rollout HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET /stats HTTP/9.9\r\n\r\n',
      'GET /stats HTTP/1.1\r\nNoColon\r\n\r\n',
      `GET /stats HTTP/1.1\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      'PUT /weights HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      '\r\n\r\n\r\n',
    ];
    const rawAnswers = Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const data =
          i < malformed.length
            ? malformed[i]!
            : Buffer.from(
                Array.from({ length: 1 + Math.floor(nextRandom() * 300) }, () =>
                  Math.floor(nextRandom() * 256),
                ).concat([13, 10, 13, 10]),
              );
        return raw(server, data, false);
      }),
    );

    const nextSpec = generator(nextRandom);
    const specs = Array.from({ length: REQUESTS }, nextSpec);
    const outcomes: Outcome[] = [];
    let index = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (index < specs.length) outcomes.push(await send(server, agent, specs[index++]!));
      }),
    );
    const fuzzMs = Date.now() - started;
    const slowAnswers = await Promise.all(slow);
    const elapsedMs = Date.now() - started;

    const statuses = new Map<number | string, number>();
    for (const o of outcomes) statuses.set(o.status ?? o.error!, (statuses.get(o.status ?? o.error!) ?? 0) + 1);
    t.diagnostic(
      `${REQUESTS} requests in ${fuzzMs} ms (${elapsedMs} ms with the slow ` +
        `connections): ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
    );

    assert.deepEqual(crashes, []);
    assert.equal(outcomes.length, REQUESTS);
    // The server closes a connection whose body is over the limit instead of reading it: the
    // client may see that close while it still writes. Nothing else may fail.
    const failed = outcomes.filter((o) => o.error !== null && !((o.spec.body?.length ?? 0) > DEFAULT_MAX_BODY_BYTES));
    assert.deepEqual(
      failed.map((o) => `${o.spec.method} ${o.spec.path.slice(0, 80)}: ${o.error}`),
      [],
    );
    for (const o of outcomes.filter((x) => x.status !== null)) {
      const what = `${o.spec.method} ${o.spec.path.slice(0, 80)} -> ${o.status}`;
      assert.ok(o.status! >= 200 && o.status! <= 599, what);
      assert.ok(o.bytes <= MAX_ANSWER_BYTES, `${what}: ${o.bytes} bytes`);
      if (o.contentType?.startsWith('application/json') && o.spec.method !== 'HEAD') {
        const json = JSON.parse(o.text);
        if (o.status! >= 400) assert.deepEqual([typeof json.error, typeof json.code], ['string', 'string'], what);
      }
    }
    assert.equal(outcomes.filter((o) => o.status === 500).length, 0, "no request is the endpoint's own failure");
    // Every malformed request got an HTTP answer (Node's 400 or 431, or ours) or a close.
    for (const answer of await rawAnswers) if (answer !== '') assert.match(answer, /^HTTP\/1\.1 \d{3} /);
    // Bodies that never end get 408; headers that never end, a close without an answer.
    assert.deepEqual(
      slowAnswers.map((a) => (a === '' ? 'closed' : a.slice(0, 24))),
      [...Array(24).fill('HTTP/1.1 408 Request Tim'), ...Array(12).fill('closed')],
    );

    // And the endpoint works as before.
    const put = await send(server, agent, {
      method: 'PUT',
      path: '/weights',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: Buffer.from('{"v1": 3, "v2": 1}'),
      chunked: false,
    });
    assert.deepEqual([put.status, JSON.parse(put.text).weights], [200, { v1: 3, v2: 1 }]);
  });
});

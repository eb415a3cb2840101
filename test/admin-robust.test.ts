/**
 * The admin endpoint never ends the process and never answers without bound: what a handler
 * throws or returns (BigInt, cycles, tens of MB) becomes an answer, and answers are bounded in
 * bytes one by one and all together.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { TrafficSplit } from '../src/index.js';
import { startAdminServer, type AdminServer } from '../src/ops/index.js';
import {
  HeldReplyBytes,
  MAX_REPLY_BYTES,
  release,
  renderReply,
  type RenderedReply,
  type ReplyRefusal,
} from '../src/ops/admin/admin-reply.js';

async function adminFor(t: TestContext): Promise<{ split: TrafficSplit; server: AdminServer }> {
  const split = new TrafficSplit({
    subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' },
    weights: { v1: 1, v2: 0 },
  });
  const server = await startAdminServer(split, { port: 0 });
  t.after(async () => {
    await server.close();
    split.close();
  });
  return { split, server };
}

async function get(server: AdminServer, path: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(20_000) });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** Replaces a method of the split for one test: what a broken or hostile handle would answer. */
function replace<K extends 'stats' | 'getWeights'>(
  t: TestContext,
  split: TrafficSplit,
  method: K,
  value: () => unknown,
): void {
  const original = split[method];
  (split as unknown as Record<string, unknown>)[method] = value;
  t.after(() => ((split as unknown as Record<string, unknown>)[method] = original));
}

describe('admin endpoint: answers that cannot end the process', () => {
  it('renders a BigInt, a cycle and a Buffer safely where JSON.stringify threw and ended the process', async (t) => {
    const { split, server } = await adminFor(t);
    const stats: Record<string, unknown> = { id: 1n, bytes: Buffer.from([1, 2, 3]) };
    stats['self'] = stats;
    replace(t, split, 'stats', () => stats);
    const answer = await get(server, '/stats');
    assert.deepEqual(
      [answer.status, JSON.parse(answer.text)],
      [200, { id: '1', bytes: { base64: 'AQID', bytes: 3, truncated: false }, self: '[circular]' }],
    );
  });

  it('answers 500 ERR_ADMIN_INTERNAL when a handler throws anything, even a value whose description throws', async (t) => {
    const { split, server } = await adminFor(t);
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error('no');
        },
        getPrototypeOf: () => {
          throw new Error('no');
        },
      },
    );
    for (const thrown of [new Error('boom'), hostile, undefined]) {
      replace(t, split, 'getWeights', () => {
        throw thrown;
      });
      const answer = await get(server, '/weights');
      assert.deepEqual(
        [answer.status, JSON.parse(answer.text)],
        [500, { error: 'internal error', code: 'ERR_ADMIN_INTERNAL' }],
      );
    }
    replace(t, split, 'getWeights', () => ({ v1: 1, v2: 0 }));
    assert.equal((await get(server, '/weights')).status, 200);
  });

  it('answers 500 ERR_ADMIN_REPLY_TOO_LARGE instead of an answer over MAX_REPLY_BYTES, and keeps serving', async (t) => {
    const { split, server } = await adminFor(t);
    // 3,000 strings of 8 KiB: about 24 MB of JSON.
    replace(t, split, 'stats', () => Array(3_000).fill('x'.repeat(8 * 1024)));
    const answer = await get(server, '/stats');
    assert.deepEqual(
      [answer.status, JSON.parse(answer.text)],
      [500, { error: `the answer is larger than ${MAX_REPLY_BYTES} bytes`, code: 'ERR_ADMIN_REPLY_TOO_LARGE' }],
    );
    assert.equal((await get(server, '/weights')).status, 200);
  });

  it('goes on when a client leaves in the middle of a large answer', async (t) => {
    const { split, server } = await adminFor(t);
    replace(t, split, 'stats', () => Array(1_000).fill('x'.repeat(8 * 1024)));
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(`GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const [first] = (await once(socket, 'data')) as [Buffer];
    assert.match(first.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
    socket.destroy();
    const answer = await get(server, '/stats');
    assert.equal(answer.status, 200);
    assert.equal(Number(answer.headers.get('content-length')), Buffer.byteLength(answer.text));
    assert.equal(JSON.parse(answer.text).length, 1_000);
  });
});

describe('admin endpoint: bytes of answers (renderReply)', () => {
  const big = { status: 200, json: Array(100).fill('y'.repeat(1_000)) };
  const size = Buffer.byteLength(`${JSON.stringify(big.json, null, 2)}\n`);
  const isRefusal = (result: RenderedReply | ReplyRefusal | null): result is ReplyRefusal =>
    result !== null && 'code' in result;

  it('holds the bytes of a rendered answer until released, and refuses with 503 ERR_ADMIN_BUSY beyond the total', async () => {
    const holder = new HeldReplyBytes(size + size / 2);
    const first = await renderReply(big, holder, () => false);
    assert.ok(first !== null && !isRefusal(first));
    assert.deepEqual(
      [first.size, Buffer.concat(first.chunks).toString()],
      [size, `${JSON.stringify(big.json, null, 2)}\n`],
    );
    assert.equal(holder.held, size);
    const second = await renderReply(big, holder, () => false);
    assert.ok(isRefusal(second));
    assert.deepEqual([second.status, second.code], [503, 'ERR_ADMIN_BUSY']);
    assert.equal(holder.held, size, 'the refused answer gave its bytes back');
    release(holder, first.size);
    assert.equal(holder.held, 0);
    const third = await renderReply(big, holder, () => false);
    assert.ok(third !== null && !isRefusal(third));
  });

  it('refuses an answer over its maximum with 500 ERR_ADMIN_REPLY_TOO_LARGE, JSON or text, and holds nothing', async () => {
    const holder = new HeldReplyBytes();
    for (const reply of [big, { status: 200, text: 'z'.repeat(size) }]) {
      const result = await renderReply(reply, holder, () => false, size - 1);
      assert.ok(isRefusal(result));
      assert.deepEqual(
        [result.status, result.code, result.message],
        [500, 'ERR_ADMIN_REPLY_TOO_LARGE', `the answer is larger than ${size - 1} bytes`],
      );
      assert.equal(holder.held, 0);
    }
  });

  it('stops rendering, and holds nothing, once the client is gone', async () => {
    const holder = new HeldReplyBytes();
    const many = { status: 200, json: Array(10_000).fill('w'.repeat(100)) };
    let asked = 0;
    const result = await renderReply(many, holder, () => ++asked === 3);
    assert.deepEqual([result, holder.held, asked], [null, 0, 3]);
  });
});

/**
 * The admin endpoint never ends the process and never answers without bound: what a handler
 * throws or returns (BigInt, cycles, tens of MB) becomes an answer, and answers are bounded in
 * bytes one by one and all together.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { TrafficSplit } from '../src/index.js';
import { startAdminServer, type AdminServer } from '../src/ops/index.js';
import { eventually } from './helpers/split-helpers.js';
import { MAX_PIECE_BYTES, SLICE_BYTES, SLICE_POOL } from '../src/ops/admin/admin-json.js';
import {
  HeldReplyBytes,
  MAX_HELD_REPLY_BYTES,
  MAX_REPLY_BYTES,
  release,
  renderReply,
  WRITE_BYTES_PER_TURN,
  writeReply,
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

  it('answers 200 with "[unreadable]" for a revoked proxy at the end of a large answer, and holds no bytes for it', async (t) => {
    const { split, server } = await adminFor(t);
    // `instanceof` throws on a revoked proxy: the answer was cut off (the connection destroyed)
    // and its 3.3 MB stayed counted as held, so 21 such requests made every large answer a 503.
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const samples = Array(400).fill('s'.repeat(8 * 1024));
    replace(t, split, 'stats', () => ({ samples, response: proxy }));
    const answers = [];
    for (let i = 0; i < 25; i++) answers.push(await get(server, '/stats'));
    assert.deepEqual(
      answers.map((answer) => [answer.status, (JSON.parse(answer.text) as { response: unknown }).response]),
      Array(25).fill([200, '[unreadable]']),
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

describe('admin endpoint: memory of answers', () => {
  it('gives the Buffers of an answer back once written: a second answer as large allocates none', async (t) => {
    const { split, server } = await adminFor(t);
    // About 2 MB: some 130 slices.
    const value = Array(2_000).fill('y'.repeat(1_000));
    replace(t, split, 'stats', () => value);
    const first = await get(server, '/stats');
    const allocated = SLICE_POOL.allocated;
    assert.ok(SLICE_POOL.size >= first.text.length / (SLICE_BYTES + MAX_PIECE_BYTES), `${SLICE_POOL.size} kept`);
    const second = await get(server, '/stats');
    assert.deepEqual(
      [first.status, second.status, second.text === first.text, JSON.parse(second.text).length],
      [200, 200, true, 2_000],
    );
    assert.equal(SLICE_POOL.allocated, allocated);
  });

  it('keeps an answer intact while a slow client reads it and the next answers are rendered', async (t) => {
    const { split, server } = await adminFor(t);
    // 12 MB: more than the kernel buffers between a client that stopped reading and the server,
    // so part of the answer waits in the server while the others are rendered.
    const value = Array.from({ length: 1_500 }, (_, i) => `${i % 10}`.repeat(8 * 1024));
    const expected = `${JSON.stringify(value, null, 2)}\n`;
    replace(t, split, 'stats', () => value);
    // From an empty pool, as in a fresh process: the next answers take what the first gives back.
    const kept: Buffer[] = [];
    while (SLICE_POOL.size > 0) kept.push(SLICE_POOL.take());
    t.after(() => kept.forEach((buffer) => SLICE_POOL.give(buffer)));
    const slow = connect(server.port, '127.0.0.1');
    t.after(() => slow.destroy());
    slow.on('error', () => {});
    await once(slow, 'connect');
    slow.write(`GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    const received: Buffer[] = [];
    const [first] = (await once(slow, 'data')) as [Buffer];
    received.push(first);
    slow.pause();
    const others = await Promise.all(Array.from({ length: 3 }, () => get(server, '/stats')));
    assert.deepEqual(
      others.map((answer) => [answer.status, answer.text === expected]),
      Array(3).fill([200, true]),
    );
    slow.on('data', (chunk: Buffer) => received.push(chunk));
    slow.resume();
    await once(slow, 'end');
    const text = Buffer.concat(received).toString('latin1');
    assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4) === expected, true, 'the slow answer is intact');
  });
});

describe('admin endpoint: answers sharing the pool', () => {
  it('never puts bytes of one answer in another: pipelining clients that wait, clients that leave, fast ones', async (t) => {
    const { split, server } = await adminFor(t);
    // Every answer its own: each item names the answer it belongs to (about 1.4 MB each).
    let answers = 0;
    replace(t, split, 'stats', () => {
      const id = ++answers;
      return {
        id,
        items: Array.from({ length: 3_000 }, (_, i) => `${id}:${i}:${'é'.repeat(id % 5)}${'w'.repeat(400)}`),
      };
    });
    const kept: Buffer[] = [];
    while (SLICE_POOL.size > 0) kept.push(SLICE_POOL.take());
    t.after(() => kept.forEach((buffer) => SLICE_POOL.give(buffer)));
    /** The bodies of the whole answers in `bytes` (HTTP/1.1 with content-length). */
    const bodies = (bytes: Buffer): string[] => {
      const found: string[] = [];
      for (let at = 0; ;) {
        const head = bytes.indexOf('\r\n\r\n', at);
        if (head < 0) return found;
        const length = Number(/content-length: (\d+)/i.exec(bytes.subarray(at, head).toString('latin1'))?.[1]);
        if (bytes.length < head + 4 + length) return found;
        found.push(bytes.subarray(head + 4, head + 4 + length).toString());
        at = head + 4 + length;
      }
    };
    const open = async (requests: number): Promise<Socket> => {
      const socket = connect(server.port, '127.0.0.1');
      t.after(() => socket.destroy());
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write(`GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`.repeat(requests));
      return socket;
    };
    // Three answers pipelined on each of four connections that read their first bytes, then wait.
    const waiting = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const socket = await open(3);
        const received: Buffer[] = [(await once(socket, 'data'))[0] as Buffer];
        socket.pause();
        return { socket, received };
      }),
    );
    // Meanwhile clients that leave in the middle of an answer, and clients that read at once.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const socket = await open(2);
        await once(socket, 'data');
        socket.destroy();
      }),
    );
    const fast = await Promise.all(Array.from({ length: 4 }, () => get(server, '/stats')));
    const waited = await Promise.all(
      waiting.map(async ({ socket, received }) => {
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.resume();
        // Bounded: the server's answers end, or the test's own deadline does.
        while (bodies(Buffer.concat(received)).length < 3) await once(socket, 'data');
        return bodies(Buffer.concat(received));
      }),
    );
    const texts = [...fast.map((answer) => answer.text), ...waited.flat()];
    const foreign = texts.flatMap((text, k) => {
      let answer: { id: number; items: string[] };
      try {
        answer = JSON.parse(text) as { id: number; items: string[] };
      } catch {
        return [`answer ${k} is not JSON`];
      }
      const { id, items } = answer;
      return items
        .filter((item) => !item.startsWith(`${id}:`))
        .map((item) => `answer ${k} (${id}): ${item.slice(0, 12)}`);
    });
    assert.deepEqual(foreign.slice(0, 5), []);
    const ids = texts.map((text) => (JSON.parse(text) as { id: number }).id);
    assert.deepEqual([texts.length, new Set(ids).size], [16, 16]);
    assert.equal((await get(server, '/stats')).status, 200);
  });
});

describe('admin endpoint: clients that do not read', () => {
  it('holds at most MAX_HELD_REPLY_BYTES of answers for them, answers 503 beyond, and 200 once they leave', async (t) => {
    const { split, server } = await adminFor(t);
    // 1,000 strings of 8 KiB: an answer of 8.2 MB, so 12 of them pass the 64 MiB held for all.
    const value = Array(1_000).fill('z'.repeat(8 * 1024));
    const size = Buffer.byteLength(`${JSON.stringify(value, null, 2)}\n`);
    assert.equal(MAX_HELD_REPLY_BYTES, 64 * 1024 * 1024);
    const clients = 12;
    assert.ok(clients * size > MAX_HELD_REPLY_BYTES + size);
    replace(t, split, 'stats', () => value);
    const sockets: Socket[] = [];
    t.after(() => sockets.forEach((socket) => socket.destroy()));
    const statuses = await Promise.all(
      Array.from({ length: clients }, async () => {
        const socket = connect(server.port, '127.0.0.1');
        sockets.push(socket);
        socket.on('error', () => {});
        await once(socket, 'connect');
        socket.write(`GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        // The status line, then nothing more is read: the answer waits in the server.
        const [first] = (await once(socket, 'data')) as [Buffer];
        socket.pause();
        return Number(/^HTTP\/1\.1 (\d{3}) /.exec(first.toString('latin1'))?.[1]);
      }),
    );
    const served = statuses.filter((status) => status === 200).length;
    const busy = statuses.filter((status) => status === 503).length;
    assert.equal(served + busy, clients, `statuses ${statuses.join(', ')}`);
    // Answers held in full: no more than fit in the bound, the others refused.
    assert.ok(served >= 1 && served <= Math.floor(MAX_HELD_REPLY_BYTES / size), `${served} answers held`);
    for (const socket of sockets) socket.destroy();
    // Their bytes come back as the connections close: a full answer again.
    await eventually(
      async () => (await get(server, '/stats')).status === 200,
      () => 'still busy',
      10_000,
    );
    const answer = await get(server, '/stats');
    assert.equal(answer.text.length, size);
  });
});

describe('admin endpoint: writing an answer (writeReply)', () => {
  it('writes at most WRITE_BYTES_PER_TURN per turn of the event loop to a socket that takes everything at once', async () => {
    const writes: number[] = [];
    let turn = 0;
    let ended = 0;
    const response = Object.assign(new EventEmitter(), {
      headersSent: false,
      destroyed: false,
      writeHead: () => undefined,
      write: () => {
        writes.push(turn);
        return true;
      },
      end: () => ended++,
    });
    const request = { headers: {}, readableEnded: true, socket: { destroyed: false } };
    // Chunks of 16 KiB, as the slices of a JSON answer: four per turn.
    const chunks = Array.from({ length: 50 }, () => Buffer.alloc(WRITE_BYTES_PER_TURN / 4));
    let done = false;
    // Counts turns from before the first write, so that each turn's count comes first in it.
    const ticked = (async () => {
      for (; !done && turn < 1_000; turn++) await new Promise((resolve) => setImmediate(resolve));
    })();
    const written = writeReply(
      request as unknown as IncomingMessage,
      response as unknown as ServerResponse,
      { status: 200 },
      { chunks, size: chunks.reduce((sum, chunk) => sum + chunk.length, 0) },
    ).then(() => (done = true));
    await Promise.all([written, ticked]);
    const perTurn = new Map<number, number>();
    for (const at of writes) perTurn.set(at, (perTurn.get(at) ?? 0) + 1);
    assert.deepEqual([writes.length, Math.max(...perTurn.values()), perTurn.size, ended], [50, 4, 13, 1]);
  });
});

describe('admin endpoint: Buffers of an answer (writeReply)', () => {
  it('gives each back to the pool once the socket is done with it, and the unwritten ones when it closes', async () => {
    const callbacks: (() => void)[] = [];
    const response = Object.assign(new EventEmitter(), {
      headersSent: false,
      destroyed: false,
      writeHead: () => undefined,
      // A socket that keeps every chunk until its callback (a client that reads slowly).
      write: (_chunk: Buffer, callback: () => void) => {
        callbacks.push(callback);
        return false;
      },
      end: () => undefined,
    });
    const request = { headers: {}, readableEnded: true, socket: { destroyed: false } };
    const kept: Buffer[] = [];
    while (SLICE_POOL.size > 0) kept.push(SLICE_POOL.take());
    try {
      const chunks = [SLICE_POOL.take(), SLICE_POOL.take(), SLICE_POOL.take()];
      const written = writeReply(
        request as unknown as IncomingMessage,
        response as unknown as ServerResponse,
        { status: 200 },
        { chunks, size: 3 * SLICE_POOL.bufferBytes },
      );
      assert.deepEqual([callbacks.length, SLICE_POOL.size], [1, 0], 'the first chunk is still being written');
      response.emit('drain');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual([callbacks.length, SLICE_POOL.size], [2, 0]);
      callbacks[0]!();
      assert.equal(SLICE_POOL.size, 1, 'the first chunk is written: back in the pool');
      // The client leaves: the third chunk was never written, the second is the socket's until its callback.
      response.emit('close');
      await written;
      assert.equal(SLICE_POOL.size, 2);
      callbacks[1]!();
      assert.equal(SLICE_POOL.size, 3);
    } finally {
      kept.forEach((buffer) => SLICE_POOL.give(buffer));
    }
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

  it('gives back the bytes it held when rendering fails half-way', async () => {
    const holder = new HeldReplyBytes();
    const many = { status: 200, json: Array(10_000).fill('w'.repeat(100)) };
    let pauses = 0;
    const failing = async (): Promise<void> => {
      if (++pauses === 3) throw new Error('rendering failed');
    };
    await assert.rejects(
      renderReply(many, holder, () => false, MAX_REPLY_BYTES, failing),
      /rendering failed/,
    );
    assert.deepEqual([pauses, holder.held], [3, 0]);
  });
});

/**
 * Answers of the admin endpoint: rendered a slice per turn of the event loop (the gRPC calls of
 * the process share that loop), bounded in bytes one by one and all together, and written at
 * most WRITE_BYTES_PER_TURN per turn, only as fast as the client reads them. Each slice's Buffer
 * goes back to the pool (SLICE_POOL) once the socket is done with it.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { JsonSlicer, SLICE_POOL } from './admin-json.js';
import type { AdminReply } from './admin-routes.js';

/** Largest answer, in bytes. `/stats` with 1,000 samples and `keepBodies` is about 3.8 MB
 * (test/release/admin-stats-samples.test.ts). */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;
/**
 * Most bytes of answers rendered and not yet written out, over all of an endpoint's connections:
 * 64 connections each pipelining 8 `GET /stats` must not hold 512 answers of megabytes.
 */
export const MAX_HELD_REPLY_BYTES = 64 * 1024 * 1024;

/** Bytes of an answer written to its socket in one turn of the event loop, at most (plus a chunk). */
export const WRITE_BYTES_PER_TURN = 64 * 1024;

/** The bytes of answers an endpoint holds now. */
export class HeldReplyBytes {
  held = 0;
  constructor(readonly max: number = MAX_HELD_REPLY_BYTES) {}
}

/** An answer that cannot be given: too large, or too many bytes held already. */
export interface ReplyRefusal {
  status: 500 | 503;
  code: 'ERR_ADMIN_REPLY_TOO_LARGE' | 'ERR_ADMIN_BUSY';
  message: string;
}

/** A rendered answer: its body in chunks, and the bytes it holds until written. */
export interface RenderedReply {
  chunks: Buffer[];
  size: number;
}

/**
 * Renders `reply`'s body (JSON unless it has `text`), yielding to the event loop between slices
 * (see JsonSlicer). Counts its bytes in `holder` (null: not counted, for the small error
 * answers); the caller gives them back with `release()` once the answer is out. Resolves null
 * when `gone()` says the client left meanwhile.
 */
export async function renderReply(
  reply: AdminReply,
  holder: HeldReplyBytes | null,
  gone: () => boolean,
  maxBytes = MAX_REPLY_BYTES,
  /** Lets the event loop run between slices (tests count the bytes rendered between calls). */
  pause: () => Promise<void> = nextTurn,
): Promise<RenderedReply | ReplyRefusal | null> {
  const rendered: RenderedReply = { chunks: [], size: 0 };
  const add = (chunk: Buffer): ReplyRefusal | null => {
    rendered.chunks.push(chunk);
    rendered.size += chunk.length;
    if (holder !== null) holder.held += chunk.length;
    if (rendered.size > maxBytes)
      return {
        status: 500,
        code: 'ERR_ADMIN_REPLY_TOO_LARGE',
        message: `the answer is larger than ${maxBytes} bytes`,
      };
    if (holder !== null && holder.held > holder.max) {
      return {
        status: 503,
        code: 'ERR_ADMIN_BUSY',
        message: `answers of ${holder.max} bytes in all are waiting for their clients to read them; try again later`,
      };
    }
    return null;
  };
  if (reply.text !== undefined) {
    const refusal = add(Buffer.from(reply.text));
    if (refusal !== null) release(holder, rendered.size);
    return refusal ?? rendered;
  }
  const slicer = new JsonSlicer(reply.json ?? null);
  try {
    for (;;) {
      let chunk = slicer.next()!;
      if (slicer.done) {
        const last = chunk;
        chunk = Buffer.concat([last, NEWLINE]);
        SLICE_POOL.give(last);
      }
      // A slice that only skipped values (left-out keys) holds no byte: nothing to keep.
      const refusal = chunk.length > 0 ? add(chunk) : null;
      if (refusal !== null || gone()) {
        release(holder, rendered.size);
        recycle(rendered.chunks);
        return refusal;
      }
      // A small answer (one slice) goes out in the same turn.
      if (slicer.done) return rendered;
      await pause();
    }
  } catch (error) {
    // Bytes held for an answer that never goes out would count against every later one, for ever.
    release(holder, rendered.size);
    recycle(rendered.chunks);
    throw error;
  }
}

const NEWLINE = Buffer.from('\n');

/** Resolves after the event loop has handled the I/O that arrived meanwhile. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A small answer (an error's), rendered at once: not counted, never refused. */
export function renderSmallReply(reply: AdminReply): RenderedReply {
  if (reply.text !== undefined) {
    const chunk = Buffer.from(reply.text);
    return { chunks: [chunk], size: chunk.length };
  }
  const slicer = new JsonSlicer(reply.json ?? null);
  const slices: Buffer[] = [];
  for (let slice = slicer.next(); slice !== null; slice = slicer.next()) slices.push(slice);
  const chunk = Buffer.concat([...slices, NEWLINE]);
  recycle(slices);
  return { chunks: [chunk], size: chunk.length };
}

/** Gives the slices' Buffers back to the pool: nothing reads them any more. */
function recycle(chunks: readonly Buffer[]): void {
  for (const chunk of chunks) SLICE_POOL.give(chunk);
}

/** Gives back the bytes a rendered answer held (once per answer). */
export function release(holder: HeldReplyBytes | null, bytes: number): void {
  if (holder !== null) holder.held -= bytes;
}

/**
 * Writes the answer, waiting for the client to read each chunk it cannot take at once. When the
 * request's body has not been read to its end (a refusal before reading it, a 413, a 408), the
 * connection is closed right after the answer instead of draining the rest: an unauthenticated
 * client must not be able to make the endpoint read 100 MB. Resolves once the answer is out or
 * the connection closed.
 */
export async function writeReply(
  request: IncomingMessage,
  response: ServerResponse,
  reply: AdminReply,
  body: RenderedReply,
): Promise<void> {
  if (response.headersSent || request.socket.destroyed) return recycle(body.chunks);
  const hasBody =
    request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
  const unread = hasBody && !request.readableEnded;
  response.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'content-length': body.size,
    'cache-control': 'no-store',
    ...reply.headers,
    ...(unread ? { connection: 'close' } : {}),
  });
  if (unread) response.once('finish', () => request.socket.destroy());
  let closed = response.destroyed;
  const onClose = (): void => {
    closed = true;
  };
  response.once('close', onClose);
  let writtenThisTurn = 0;
  for (const [index, chunk] of body.chunks.entries()) {
    // A socket that takes every chunk at once (loopback, a fast client) emits 'drain' in the
    // same turn: waiting for it alone wrote megabytes without yielding.
    if (writtenThisTurn >= WRITE_BYTES_PER_TURN) {
      await nextTurn();
      writtenThisTurn = 0;
    }
    if (closed) return recycle(body.chunks.slice(index));
    writtenThisTurn += chunk.length;
    // The socket may hold the chunk until it is written (error or not): only then is it free.
    if (!response.write(chunk, () => SLICE_POOL.give(chunk)) && !closed) await drainedOrClosed(response);
  }
  response.off('close', onClose);
  if (!closed) response.end();
}

function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done).off('close', done);
      resolve();
    };
    response.on('drain', done).on('close', done);
  });
}

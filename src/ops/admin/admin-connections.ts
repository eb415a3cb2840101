/**
 * Connection limits of the admin endpoint: a cap on open connections and a deadline for each
 * request to arrive, so that slow or idle clients (slowloris) cannot hold file descriptors that
 * the rest of the process needs.
 * @module
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

interface Tracked {
  /** Requests received whose answers are not yet written out: the connection is being served
   * while this is above 0. */
  pending: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Requests one connection may have unanswered at once. HTTP/1.1 lets a client pipeline requests
 * without reading the answers; Node parses and serves them all and queues the answers in memory,
 * so one client that sends thousands of `GET /metrics` in one write and never reads would cost
 * the process (and its gRPC calls, on the same event loop) seconds of work and hundreds of MB.
 * No legitimate admin client pipelines more than a few.
 */
export const MAX_PIPELINED_REQUESTS = 8;

/**
 * Caps `server` at `maxConnections` open connections and closes any connection that has not
 * delivered a request's headers within `requestTimeoutMs` of connecting or of its previous
 * answer (an idle keep-alive connection included).
 *
 * A connection with more than MAX_PIPELINED_REQUESTS requests unanswered is closed before the
 * excess is served.
 *
 * At the cap, a new connection evicts the oldest connection that is not being served (one that
 * is still sending headers, or idle) rather than being refused: slow clients cannot lock out a
 * prompt one. Only when every connection is being served is the new one closed.
 */
export function guardConnections(server: Server, maxConnections: number, requestTimeoutMs: number): void {
  // Insertion order is connection order: the first idle entry is the oldest.
  const open = new Map<Socket, Tracked>();
  const arm = (socket: Socket, entry: Tracked): void => {
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => socket.destroy(), requestTimeoutMs);
    // The server keeps the process alive while it listens; these timers must not after close.
    entry.timer.unref();
  };
  server.on('connection', (socket: Socket) => {
    if (open.size >= maxConnections && !evictOldestIdle(open)) {
      socket.destroy();
      return;
    }
    const entry: Tracked = { pending: 0, timer: null };
    open.set(socket, entry);
    arm(socket, entry);
    socket.once('close', () => {
      if (entry.timer !== null) clearTimeout(entry.timer);
      open.delete(socket);
    });
  });
  // Before the server's own handler, which skips requests of a connection closed here.
  server.prependListener('request', (request, response) => {
    const socket = request.socket;
    const entry = open.get(socket);
    if (entry === undefined) return;
    if (++entry.pending > MAX_PIPELINED_REQUESTS) {
      socket.destroy();
      return;
    }
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    // 'close' comes once per response, answered or cut off.
    response.once('close', () => {
      entry.pending--;
      if (entry.pending === 0 && !socket.destroyed) arm(socket, entry);
    });
  });
}

function evictOldestIdle(open: Map<Socket, Tracked>): boolean {
  for (const [socket, entry] of open) {
    if (entry.pending === 0) {
      // Deleted now, not on 'close' (which comes later): the newcomer takes its place at once.
      if (entry.timer !== null) clearTimeout(entry.timer);
      open.delete(socket);
      socket.destroy();
      return true;
    }
  }
  return false;
}

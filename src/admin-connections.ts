/**
 * Connection limits of the admin endpoint: a cap on open connections and a deadline for each
 * request to arrive, so that slow or idle clients (slowloris) cannot hold file descriptors that
 * the rest of the process needs.
 * @module
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

interface Tracked {
  /** Between a request's headers and its answer: the connection is being served. */
  busy: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * Caps `server` at `maxConnections` open connections and closes any connection that has not
 * delivered a request's headers within `requestTimeoutMs` of connecting or of its previous
 * answer (an idle keep-alive connection included).
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
    const entry: Tracked = { busy: false, timer: null };
    open.set(socket, entry);
    arm(socket, entry);
    socket.once('close', () => {
      if (entry.timer !== null) clearTimeout(entry.timer);
      open.delete(socket);
    });
  });
  server.on('request', (request, response) => {
    const socket = request.socket;
    const entry = open.get(socket);
    if (entry === undefined) return;
    entry.busy = true;
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    response.once('finish', () => {
      entry.busy = false;
      if (!socket.destroyed) arm(socket, entry);
    });
  });
}

function evictOldestIdle(open: Map<Socket, Tracked>): boolean {
  for (const [socket, entry] of open) {
    if (!entry.busy) {
      // Deleted now, not on 'close' (which comes later): the newcomer takes its place at once.
      if (entry.timer !== null) clearTimeout(entry.timer);
      open.delete(socket);
      socket.destroy();
      return true;
    }
  }
  return false;
}

/** Real grpc-js servers on 127.0.0.1 (test.Echo, shop.Store), counting the TCP connections each has accepted. */
import * as grpc from '@grpc/grpc-js';
import dc from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { echoHandlers, echoService } from './echo-service.js';
import { shopHandlers, shopService } from './shop-service.js';

const acceptedByPort = new Map<number, number>();
const openSockets = new Map<number, Set<Socket>>();
// Node publishes every socket a net.Server accepts here; grpc-js's http2 server is a net.Server.
dc.subscribe('net.server.socket', (message) => {
  const socket = (message as { socket: Socket }).socket;
  const port = socket.localPort;
  if (port === undefined) return;
  acceptedByPort.set(port, (acceptedByPort.get(port) ?? 0) + 1);
  let open = openSockets.get(port);
  if (!open) openSockets.set(port, (open = new Set()));
  open.add(socket);
  socket.once('close', () => open!.delete(socket));
});

export interface TestServer {
  readonly name: string;
  readonly port: number;
  /** `ipv4:127.0.0.1:<port>` */
  readonly target: string;
  /** TCP connections this server accepted since it started (not those of an earlier server the
   * OS gave the same port). */
  accepted(): number;
  /** Connections open now. */
  open(): number;
  /** Stops accepting and kills every connection at once (a crash, seen from the client). */
  kill(): Promise<void>;
  /** Graceful stop. */
  stop(): Promise<void>;
}

export async function startServer(
  name: string,
  port = 0,
  credentials = grpc.ServerCredentials.createInsecure(),
  serverOptions: grpc.ServerOptions = {},
): Promise<TestServer> {
  const server = new grpc.Server(serverOptions);
  server.addService(echoService, echoHandlers(name));
  server.addService(shopService, shopHandlers(name));
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, credentials, (error, p) => (error ? reject(error) : resolve(p))),
  );
  const acceptedBefore = acceptedByPort.get(boundPort) ?? 0;
  return {
    name,
    port: boundPort,
    target: `ipv4:127.0.0.1:${boundPort}`,
    accepted: () => (acceptedByPort.get(boundPort) ?? 0) - acceptedBefore,
    open: () => openSockets.get(boundPort)?.size ?? 0,
    kill: async () => {
      // Sockets first: a crash resets connections without the RST_STREAM(CANCEL) frames a
      // graceful forceShutdown() would send, so in-flight calls see UNAVAILABLE, not CANCELLED.
      for (const socket of openSockets.get(boundPort) ?? []) socket.destroy();
      server.forceShutdown();
    },
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

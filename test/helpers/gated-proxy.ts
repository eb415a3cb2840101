/**
 * A TCP proxy on 127.0.0.1 that holds every connection it accepts until the test opens its gate:
 * a backend that is slow to connect, without timers. A grpc-js subchannel to it stays CONNECTING
 * (no HTTP/2 settings arrive) until `open()`.
 */
import net from 'node:net';

export interface GatedProxy {
  /** `ipv4:127.0.0.1:<port>` */
  readonly target: string;
  /** Connections accepted so far. */
  accepted(): number;
  /** Pipes every held connection, and every later one, to the backend. */
  open(): void;
  close(): Promise<void>;
}

export async function gatedProxy(backendPort: number): Promise<GatedProxy> {
  let opened = false;
  let accepted = 0;
  const held: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  const pipe = (client: net.Socket): void => {
    const backend = net.connect(backendPort, '127.0.0.1');
    sockets.add(backend);
    client.pipe(backend).pipe(client);
    const close = (): void => {
      client.destroy();
      backend.destroy();
    };
    client.on('error', close).on('close', close);
    backend.on('error', close).on('close', close);
  };
  const server = net.createServer((client) => {
    accepted++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (opened) pipe(client);
    else held.push(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    target: `ipv4:127.0.0.1:${port}`,
    accepted: () => accepted,
    open() {
      opened = true;
      for (const client of held.splice(0)) if (!client.destroyed) pipe(client);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        for (const socket of held) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

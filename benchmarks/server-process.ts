/**
 * Child-process entry: runs the echo servers named in argv on 127.0.0.1 and answers the parent
 * over IPC. Servers live in their own process so the client under test has a core of its own.
 *
 * Protocol (parent -> child): `{ type: 'accepted', id }` asks for the TCP connections accepted
 * per server so far and those open now; `{ type: 'stop' }` ends the process. Child -> parent:
 * `{ type: 'ready', servers }` once every server listens, `{ type: 'accepted', id, counts, open }`
 * in reply.
 * @module
 */
import { startServer, type TestServer } from '../test/helpers/servers.js';

/** Messages the child sends. */
export type ChildMessage =
  | { type: 'ready'; servers: { name: string; port: number }[] }
  | { type: 'accepted'; id: number; counts: Record<string, number>; open: Record<string, number> }
  | { type: 'error'; message: string };

/** Messages the child accepts. */
export type ParentMessage = { type: 'accepted'; id: number } | { type: 'stop' };

async function main(names: string[]): Promise<void> {
  if (process.send === undefined) throw new Error('server-process must be started with child_process.fork');
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  // startServer counts accepted sockets per port through node:diagnostics_channel
  // ('net.server.socket'), which sees grpc-js's http2 server like any net.Server.
  const servers: TestServer[] = [];
  for (const name of names) servers.push(await startServer(name));
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'accepted') {
      const counts = Object.fromEntries(servers.map((s) => [s.name, s.accepted()]));
      const open = Object.fromEntries(servers.map((s) => [s.name, s.open()]));
      send({ type: 'accepted', id: message.id, counts, open });
    } else if (message.type === 'stop') {
      for (const server of servers) void server.kill();
      process.exit(0);
    }
  });
  // Never outlive the bench: a parent that dies takes its servers along.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', servers: servers.map((s) => ({ name: s.name, port: s.port })) });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.send?.({ type: 'error', message: String(error) } satisfies ChildMessage);
  process.exit(1);
});

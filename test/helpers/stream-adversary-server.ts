/**
 * A feed server whose behaviour is chosen by the subscription id, for the adversarial stream
 * tests: `fail-once:*` fails its first attempt with UNAVAILABLE and a retry pushback, `hedge:*`
 * answers only the first of two attempts (once both arrived), `status:*` ends with INTERNAL after
 * its first message; any other id gets one message and is held open.
 */
import * as grpc from '@grpc/grpc-js';
import { feedService, type FeedMessage, type SubscribeRequest } from './stream-service.js';
import { echoHandlers, echoService } from './echo-service.js';

export interface AdversaryServer {
  readonly target: string;
  /** Attempts received per id. */
  readonly attempts: Map<string, number>;
  /** Open calls per id (every attempt still open on the server). */
  openCount(): number;
  kill(): void;
}

type Call = grpc.ServerWritableStream<SubscribeRequest, FeedMessage>;

export async function startAdversaryServer(
  name: string,
  pushbackMs: number,
  options: grpc.ServerOptions = {},
): Promise<AdversaryServer> {
  const server = new grpc.Server(options);
  const attempts = new Map<string, number>();
  const open = new Set<Call>();
  const heldHedges = new Map<string, Call>();
  server.addService(echoService, echoHandlers(name));
  server.addService(feedService, {
    subscribe: (call: Call) => {
      const id = call.request.id;
      const n = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      open.add(call);
      const forget = (): void => void open.delete(call);
      call.on('cancelled', forget);
      call.on('close', forget);
      call.on('error', forget);
      if (id.startsWith('fail-once:') && n === 1) {
        const metadata = new grpc.Metadata();
        metadata.set('grpc-retry-pushback-ms', String(pushbackMs));
        open.delete(call);
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'first attempt refused', metadata });
        return;
      }
      if (id.startsWith('hedge:')) {
        const first = heldHedges.get(id);
        if (first === undefined) heldHedges.set(id, call);
        else first.write({ server: name, id });
        return;
      }
      call.write({ server: name, id });
      if (id.startsWith('status:')) {
        open.delete(call);
        call.emit('error', { code: grpc.status.INTERNAL, details: 'server ended it' });
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    target: `ipv4:127.0.0.1:${port}`,
    attempts,
    openCount: () => open.size,
    kill: () => server.forceShutdown(),
  };
}

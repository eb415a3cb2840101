/** Bursts of unary calls issued in one go, counted by the server that answered them. */
import * as grpc from '@grpc/grpc-js';
import { callEcho, type EchoClientInstance } from './echo-service.js';

/** Resolves when `client`'s channel is READY (for a split, one READY subset is enough). */
export function ready(client: EchoClientInstance): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + 5_000, (error) => (error ? reject(error) : resolve())),
  );
}

/** Issues `n` unary calls at once; `replies` counts them by server as they arrive. */
export function burst(client: EchoClientInstance, n: number) {
  const replies: Record<string, number> = {};
  let received = 0;
  const all = Promise.all(
    Array.from({ length: n }, () =>
      callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 20_000 }).then((reply) => {
        replies[reply.server] = (replies[reply.server] ?? 0) + 1;
        received++;
      }),
    ),
  );
  return { replies, received: () => received, all };
}

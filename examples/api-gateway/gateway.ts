/**
 * The HTTP/JSON gateway: `GET /report` becomes one gRPC call to the reporter through the split.
 * The `x-user-id` HTTP header is forwarded as gRPC metadata, where the split's `stickyKey`
 * finds it, so each user stays on one version while the weights allow it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { ReporterClient } from './reporter.js';

export interface Gateway {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** What the gateway forwards: a user id of reasonable shape, or nothing. */
const USER_ID = /^[A-Za-z0-9_.-]{1,128}$/;
const CALL_TIMEOUT_MS = 2_000;

/** gRPC status -> HTTP status, as gRPC-JSON transcoders usually map them. */
function httpStatusOf(code: grpc.status): number {
  if (code === grpc.status.UNAVAILABLE) return 503;
  if (code === grpc.status.DEADLINE_EXCEEDED) return 504;
  return 502;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function handle(client: ReporterClient, request: IncomingMessage, response: ServerResponse): void {
  if (request.method !== 'GET' || request.url !== '/report') return send(response, 404, { error: 'try GET /report' });
  const user = request.headers['x-user-id'];
  const metadata = new grpc.Metadata();
  if (user !== undefined) {
    if (typeof user !== 'string' || !USER_ID.test(user))
      return send(response, 400, { error: 'x-user-id: expected 1 to 128 of A-Z a-z 0-9 _ . -' });
    metadata.set('x-user-id', user);
  }
  client.getReport({}, metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (error, report) => {
    if (error)
      return send(response, httpStatusOf(error.code), { error: error.details, code: grpc.status[error.code] });
    send(response, 200, report);
  });
}

/** Serves the gateway on loopback. */
export async function startGateway(client: ReporterClient, port = 0): Promise<Gateway> {
  const server = createServer((request, response) => handle(client, request, response));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

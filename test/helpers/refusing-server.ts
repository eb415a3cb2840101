/**
 * A gRPC server written on node:http2 directly, for what a grpc-js server never does on demand:
 * refusing a stream before its application sees it. It serves `/test.Echo/Echo` (JSON, as
 * echo-service.ts) and refuses the first `refuse` streams it receives with
 * RST_STREAM(REFUSED_STREAM): "not processed, safe to retry", which is also how an HTTP/2 client
 * closes a stream a GOAWAY excluded. grpc-js retries such a stream once, transparently. (Node's
 * `session.goaway()` cannot exclude a stream it already received, so a GOAWAY is not used.)
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface RefusingServer {
  readonly port: number;
  /** `ipv4:127.0.0.1:<port>` */
  readonly target: string;
  /** Streams refused so far. */
  refused(): number;
  /** Streams answered so far. */
  answered(): number;
  close(): Promise<void>;
}

function frame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message));
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

export async function startRefusingServer(name: string, refuse: number): Promise<RefusingServer> {
  let refused = 0;
  let answered = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
  });
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    if (refused < refuse) {
      refused++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const request = Buffer.concat(chunks);
      const text = request.length >= 5 ? (JSON.parse(request.subarray(5).toString()) as { text?: string }).text : undefined;
      answered++;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
      stream.end(frame({ server: name, text }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    target: `ipv4:127.0.0.1:${port}`,
    refused: () => refused,
    answered: () => answered,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

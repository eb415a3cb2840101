/**
 * A gRPC server written on node:http2 directly, for what a grpc-js server never does on demand:
 * refusing a stream before its application sees it. It serves `/test.Echo/Echo` (JSON, as
 * echo-service.ts) and refuses streams before any application code sees them:
 * - `rst`: the first `refuse` streams get RST_STREAM(REFUSED_STREAM), "not processed, safe to
 *   retry";
 * - `goaway`: the first stream of the first connection is answered, and the server sends a
 *   GOAWAY whose last stream id is that stream's, so every later stream the client already sent
 *   on that connection is refused (the client closes them with REFUSED_STREAM, as for a server
 *   shutting down while calls arrive). Later connections are served normally.
 * grpc-js retries a refused stream once, transparently.
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

export type RefuseMode = 'rst' | 'goaway';

export async function startRefusingServer(
  name: string,
  refuse: number,
  mode: RefuseMode = 'rst',
): Promise<RefusingServer> {
  let goawaySent = false;
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
    if (mode === 'rst' && refused < refuse) {
      refused++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (mode === 'goaway' && !goawaySent) {
      goawaySent = true;
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const request = Buffer.concat(chunks);
      const text =
        request.length >= 5 ? (JSON.parse(request.subarray(5).toString()) as { text?: string }).text : undefined;
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

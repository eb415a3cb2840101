/**
 * A server of the echo service's unary (`echo`) and client-streaming (`collect`) methods that
 * answers in the ways grpc-js's client turns into another status for the application. It
 * registers both paths with a streaming response and a serializer that passes bytes through, so
 * that a handler can end with no message, send two, or send bytes that are not JSON. The
 * request's `text` says how to answer (`Answer`); the first request message for `collect`.
 */
import { EventEmitter, once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { EchoRequest } from './echo-service.js';

/**
 * - `no-message`: status OK and no message (trailers-only);
 * - `two-messages`: two replies, then OK;
 * - `undecodable`: one reply that is not JSON, then OK;
 * - `oversized`: one reply of 4 KiB (clients here accept 1 KiB), then OK;
 * - `hold`: nothing, until the client ends the call (a cancel, its deadline).
 */
export type Answer = 'no-message' | 'two-messages' | 'undecodable' | 'oversized' | 'hold';

/** The largest message the tests' clients accept (`grpc.max_receive_message_length`). */
export const MAX_RECEIVE_BYTES = 1024;

const reply = (server: string, text = ''): Buffer => Buffer.from(JSON.stringify({ server, text }));

function method(path: string, requestStream: boolean) {
  return {
    path: `/test.Echo/${path}`,
    requestStream,
    responseStream: true,
    requestSerialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
    requestDeserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as EchoRequest,
    responseSerialize: (bytes: Buffer) => bytes,
    responseDeserialize: (bytes: Buffer) => bytes,
  };
}

export interface RewritingServer {
  readonly target: string;
  /** Resolves when the next `hold` call has reached the server. */
  nextHeld(): Promise<void>;
  kill(): void;
}

export async function startRewritingServer(name: string): Promise<RewritingServer> {
  const held = new EventEmitter();
  const answer = (
    call: grpc.ServerWritableStream<EchoRequest, Buffer> | grpc.ServerDuplexStream<EchoRequest, Buffer>,
    how: Answer,
  ): void => {
    switch (how) {
      case 'hold':
        held.emit('held');
        return;
      case 'two-messages':
        call.write(reply(name, 'first'));
        call.write(reply(name, 'second'));
        break;
      case 'undecodable':
        call.write(Buffer.from('not json {'));
        break;
      case 'oversized':
        call.write(reply(name, 'x'.repeat(4 * MAX_RECEIVE_BYTES)));
        break;
      case 'no-message':
        break;
    }
    call.end();
  };
  const server = new grpc.Server();
  server.addService(
    { echo: method('Echo', false), collect: method('Collect', true) },
    {
      echo: (call: grpc.ServerWritableStream<EchoRequest, Buffer>) => answer(call, call.request.text as Answer),
      collect: (call: grpc.ServerDuplexStream<EchoRequest, Buffer>) => {
        call.once('data', (request: EchoRequest) => answer(call, request.text as Answer));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    target: `ipv4:127.0.0.1:${port}`,
    nextHeld: async () => void (await once(held, 'held')),
    kill: () => server.forceShutdown(),
  };
}

/**
 * The service behind the gateways: a `Quote` method in two versions on loopback. v2 answers
 * like v1, or, broken, fails 5 calls in every 100 with UNAVAILABLE.
 */
import * as grpc from '@grpc/grpc-js';
import { jsonUnaryMethod } from '../shared/json-method.js';

export const quoteService = { quote: jsonUnaryMethod('/example.Quotes/Quote') } satisfies grpc.ServiceDefinition;
export const QuoteClient = grpc.makeGenericClientConstructor(quoteService, 'example.Quotes');

export interface Backend {
  address: string;
  stop(): Promise<void>;
}

export async function startBackend(version: string, broken = false): Promise<Backend> {
  const server = new grpc.Server();
  let served = 0;
  server.addService(quoteService, {
    quote: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (broken && served++ % 100 < 5)
        return callback({ code: grpc.status.UNAVAILABLE, details: `${version} is broken` });
      callback(null, { version, cents: 1234 });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `ipv4:127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

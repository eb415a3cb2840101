/**
 * The `reporter` service behind the gateway: one unary method whose reply names the version
 * that served it and the user it was served for (read from the `x-user-id` metadata), encoded
 * as JSON so the example needs no protobuf tooling. A version can be started broken, answering
 * every call with one status code, to show a rollback.
 */
import * as grpc from '@grpc/grpc-js';
import { jsonUnaryMethod } from '../shared/json-method.js';

export interface Report {
  version: string;
  /** The `x-user-id` the server received, or null. */
  user: string | null;
}

const reporterService = {
  getReport: jsonUnaryMethod('/gateway.Reporter/GetReport'),
} satisfies grpc.ServiceDefinition;

const ReporterClientBase = grpc.makeGenericClientConstructor(reporterService, 'gateway.Reporter');

export interface ReporterClient extends grpc.Client {
  getReport(
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<Report>,
  ): grpc.ClientUnaryCall;
}

export function reporterClient(target: string, options: grpc.ChannelOptions): ReporterClient {
  return new ReporterClientBase(target, grpc.credentials.createInsecure(), options) as unknown as ReporterClient;
}

export interface ReporterServer {
  version: string;
  port: number;
  stop(): Promise<void>;
}

/** A reporter of `version` on an ephemeral loopback port; with `failWith`, every call fails with that code. */
export async function startReporter(
  version: string,
  { failWith }: { failWith?: grpc.status } = {},
): Promise<ReporterServer> {
  const server = new grpc.Server();
  server.addService(reporterService, {
    getReport: (call: grpc.ServerUnaryCall<object, Report>, callback: grpc.sendUnaryData<Report>) => {
      if (failWith !== undefined) return callback({ code: failWith, details: `${version} is broken` });
      const user = call.metadata.get('x-user-id')[0];
      callback(null, { version, user: typeof user === 'string' ? user : null });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return { version, port, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

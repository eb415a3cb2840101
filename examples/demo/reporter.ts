/**
 * A stand-in `reporter` service for the demo: one unary method whose reply names the version
 * that served it, JSON-encoded so the demo needs no protobuf tooling.
 */
import * as grpc from '@grpc/grpc-js';
import { jsonUnaryMethod } from '../shared/json-method.js';
import dc from 'node:diagnostics_channel';
import type { Socket } from 'node:net';

export interface Report {
  version: string;
}

const reporterService = {
  getReport: jsonUnaryMethod('/demo.Reporter/GetReport'),
} satisfies grpc.ServiceDefinition;

const ReporterClientBase = grpc.makeGenericClientConstructor(reporterService, 'demo.Reporter');

export interface ReporterClient extends grpc.Client {
  getReport(request: object, callback: grpc.requestCallback<Report>): grpc.ClientUnaryCall;
}

export function reporterClient(target: string, options: grpc.ChannelOptions): ReporterClient {
  return new ReporterClientBase(target, grpc.credentials.createInsecure(), options) as unknown as ReporterClient;
}

const acceptedByPort = new Map<number, number>();
// Every socket a net.Server accepts is published here, grpc-js's HTTP/2 server included: the
// demo counts connections on the server side, not by trusting the client.
dc.subscribe('net.server.socket', (message) => {
  const port = (message as { socket: Socket }).socket.localPort;
  if (port !== undefined) acceptedByPort.set(port, (acceptedByPort.get(port) ?? 0) + 1);
});

export interface ReporterServer {
  version: string;
  port: number;
  /** TCP connections this server has accepted so far. */
  acceptedConnections(): number;
  stop(): Promise<void>;
}

/** A reporter server of `version` on an ephemeral loopback port. */
export async function startReporter(version: string): Promise<ReporterServer> {
  const server = new grpc.Server();
  server.addService(reporterService, {
    getReport: (_call: grpc.ServerUnaryCall<object, Report>, callback: grpc.sendUnaryData<Report>) =>
      callback(null, { version }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    version,
    port,
    acceptedConnections: () => acceptedByPort.get(port) ?? 0,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/**
 * The backends of the fleet tests: real grpc-js servers on loopback answering the echo
 * service's unary method, each counting the calls it answered and failing an exact share of
 * them (`failPerHundred` of every 100 consecutive calls, with UNAVAILABLE), so a test knows
 * exactly how many calls and failures a window should hold.
 */
import * as grpc from '@grpc/grpc-js';
import { echoService, type EchoReply, type EchoRequest } from './echo-service.js';

export interface CountingBackend {
  readonly name: string;
  /** `ipv4:127.0.0.1:<port>` */
  readonly target: string;
  /** Calls answered (OK or failed) since the start or the last `reset()`. */
  calls(): number;
  failures(): number;
  /** Changes the share of calls failed from now on. */
  setFailPerHundred(failPerHundred: number): void;
  reset(): void;
  stop(): Promise<void>;
}

export async function startCountingBackend(name: string, failPerHundred = 0): Promise<CountingBackend> {
  let calls = 0;
  let failures = 0;
  let failing = failPerHundred;
  const server = new grpc.Server();
  server.addService(echoService, {
    echo: (_call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      const index = calls++;
      if (index % 100 < failing) {
        failures++;
        return callback({
          code: grpc.status.UNAVAILABLE,
          details: `${name} fails call ${index}`,
          metadata: new grpc.Metadata(),
          name: 'Error',
          message: 'failed',
        });
      }
      callback(null, { server: name });
    },
    stream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => call.end(),
    collect: (_call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) =>
      callback(null, { server: name }),
    chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => call.end(),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    name,
    target: `ipv4:127.0.0.1:${port}`,
    calls: () => calls,
    failures: () => failures,
    setFailPerHundred: (value) => (failing = value),
    reset: () => {
      calls = 0;
      failures = 0;
    },
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

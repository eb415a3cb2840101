// A JSON-encoded service that answers with the name of the server that served the call; and the
// few helpers both consumers need. Written as an application would, against the installed
// packages only.
import * as grpc from '@grpc/grpc-js';

const json = {
  serialize: (value: object): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): { version: string } => JSON.parse(bytes.toString()) as { version: string },
};

export const whoAmIService = {
  whoAmI: {
    path: '/consumer.Echo/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies grpc.ServiceDefinition;

export const WhoAmIClient = grpc.makeGenericClientConstructor(whoAmIService, 'Echo');

export interface Backend {
  address: string;
  stop(): Promise<void>;
}

/** A server on 127.0.0.1, port chosen by the system, answering `{ version }`. */
export function startBackend(version: string): Promise<Backend> {
  const server = new grpc.Server();
  server.addService(whoAmIService, {
    whoAmI: (_call: unknown, callback: grpc.sendUnaryData<{ version: string }>) => callback(null, { version }),
  });
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) return reject(error);
      resolve({
        address: `ipv4:127.0.0.1:${port}`,
        stop: () => new Promise((done) => server.tryShutdown(() => done())),
      });
    });
  });
}

/** `count` calls in sequence; the version that served each. */
export async function whoAmI(client: InstanceType<typeof WhoAmIClient>, count: number): Promise<string[]> {
  const served: string[] = [];
  for (let i = 0; i < count; i++) {
    served.push(
      await new Promise<string>((resolve, reject) => {
        client['whoAmI']!({}, { deadline: Date.now() + 10_000 }, (error: Error | null, reply?: { version: string }) =>
          error ? reject(error) : resolve(reply!.version),
        );
      }),
    );
  }
  return served;
}

/** A service config that selects `traffic_split` by JSON alone. */
export function serviceConfigFor(subsets: Record<string, string>, weights: Record<string, number>): string {
  return JSON.stringify({ loadBalancingConfig: [{ traffic_split: { subsets, weights } }] });
}

/** Exits with an error if the consumer hangs: the test waits for the process to end. */
export function hangGuard(ms: number): void {
  setTimeout(() => {
    console.error(`consumer still running after ${ms} ms`);
    process.exit(3);
  }, ms).unref();
}

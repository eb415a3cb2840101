/**
 * A stand-in `prices` service with one server-streaming method, `Subscribe`: the server sends a
 * quote naming its version every `intervalMs`, for as long as the client keeps the stream open.
 * JSON-encoded, so the example needs no protobuf tooling.
 */
import * as grpc from '@grpc/grpc-js';

export interface SubscribeRequest {
  symbol: string;
  /** The last sequence number the client saw: a re-opened subscription resumes after it. */
  after: number;
}

export interface Quote {
  symbol: string;
  sequence: number;
  /** The version of the server that sent it. */
  version: string;
}

const serialize = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Buffer): any => JSON.parse(bytes.toString());

const pricesService = {
  subscribe: {
    path: '/demo.Prices/Subscribe',
    requestStream: false,
    responseStream: true,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
  },
} satisfies grpc.ServiceDefinition;

const PricesClientBase = grpc.makeGenericClientConstructor(pricesService, 'demo.Prices');

export interface PricesClient extends grpc.Client {
  subscribe(request: SubscribeRequest): grpc.ClientReadableStream<Quote>;
}

export function pricesClient(target: string, options: grpc.ChannelOptions): PricesClient {
  return new PricesClientBase(target, grpc.credentials.createInsecure(), options) as unknown as PricesClient;
}

export interface PricesServer {
  readonly version: string;
  readonly target: string;
  /** Subscriptions open on this server now. */
  open(): number;
  stop(): void;
}

/** A prices server of `version` on an ephemeral loopback port. */
export async function startPrices(version: string, intervalMs = 50): Promise<PricesServer> {
  const server = new grpc.Server();
  const open = new Set<grpc.ServerWritableStream<SubscribeRequest, Quote>>();
  server.addService(pricesService, {
    subscribe: (call: grpc.ServerWritableStream<SubscribeRequest, Quote>) => {
      open.add(call);
      let sequence = call.request.after;
      const send = (): void => {
        call.write({ symbol: call.request.symbol, sequence: ++sequence, version });
      };
      send();
      const timer = setInterval(send, intervalMs);
      const stop = (): void => {
        clearInterval(timer);
        open.delete(call);
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    version,
    target: `ipv4:127.0.0.1:${port}`,
    open: () => open.size,
    stop: () => {
      for (const call of open) call.end();
      server.forceShutdown();
    },
  };
}

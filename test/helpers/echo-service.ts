/**
 * A small gRPC service with one method of each kind, serialized as JSON so no protobuf tooling
 * is needed. Every reply names the server (subset) that produced it.
 */
import * as grpc from '@grpc/grpc-js';

export interface EchoRequest {
  text?: string;
  /** Ask the server to fail the call with this status code. */
  failWith?: number;
  /** Only the server of this name fails (with `failWith`); the others answer. */
  failOn?: string;
  /** Server-streaming: how many replies. */
  count?: number;
  /** Unary: the server named `slowServer` waits this long before replying. */
  delayMs?: number;
  slowServer?: string;
}

export interface EchoReply {
  server: string;
  text?: string;
  /** The metadata keys the server received, sorted (for "no routing hint leaks" checks). */
  metadataKeys?: string[];
  index?: number;
}

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): any => JSON.parse(bytes.toString()),
};

/** A method definition at the full name `path`, its messages JSON. */
export function jsonMethod(path: string, requestStream = false, responseStream = false) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  };
}

export const echoService = {
  echo: jsonMethod('/test.Echo/Echo'),
  stream: jsonMethod('/test.Echo/Stream', false, true),
  collect: jsonMethod('/test.Echo/Collect', true, false),
  chat: jsonMethod('/test.Echo/Chat', true, true),
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'test.Echo');
export type EchoClientInstance = InstanceType<typeof EchoClient> & {
  echo(
    request: EchoRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<EchoReply>,
  ): grpc.ClientUnaryCall;
  echo(request: EchoRequest, callback: grpc.requestCallback<EchoReply>): grpc.ClientUnaryCall;
  stream(request: EchoRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  collect(callback: grpc.requestCallback<EchoReply>): grpc.ClientWritableStream<EchoRequest>;
  chat(): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
};

/** Builds a client; the cast gives the dynamic methods their types. */
export function echoClient(
  target: string,
  options: grpc.ChannelOptions = {},
  credentials = grpc.credentials.createInsecure(),
): EchoClientInstance {
  return new EchoClient(target, credentials, options) as EchoClientInstance;
}

/** Handlers of a server named `server`. */
export function echoHandlers(server: string): grpc.UntypedServiceImplementation {
  const fail = (request: EchoRequest): grpc.ServiceError | null =>
    request.failWith && (request.failOn === undefined || request.failOn === server)
      ? Object.assign(new Error(`${server} fails with ${request.failWith}`), {
          code: request.failWith,
          details: `${server} fails with ${request.failWith}`,
          metadata: new grpc.Metadata(),
        })
      : null;
  return {
    echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      const error = fail(call.request);
      if (error) return callback(error);
      const metadataKeys = Object.keys(call.metadata.getMap()).sort();
      const reply = () => callback(null, { server, text: call.request.text, metadataKeys });
      if (call.request.slowServer === server && call.request.delayMs) setTimeout(reply, call.request.delayMs).unref();
      else reply();
    },
    stream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      const count = call.request.count ?? 3;
      for (let index = 0; index < count; index++) call.write({ server, index });
      call.end();
    },
    collect: (call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      const texts: string[] = [];
      call.on('data', (request: EchoRequest) => texts.push(request.text ?? ''));
      call.on('end', () => callback(null, { server, text: texts.join(',') }));
    },
    chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      let index = 0;
      call.on('data', (request: EchoRequest) => call.write({ server, text: request.text, index: index++ }));
      call.on('end', () => call.end());
    },
  };
}

/** One unary call as a promise. */
export function callEcho(
  client: EchoClientInstance,
  request: EchoRequest = {},
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    client.echo(request, metadata, options, (error, reply) => (error ? reject(error) : resolve(reply!)));
  });
}

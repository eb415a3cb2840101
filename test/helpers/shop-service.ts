/**
 * A second test service, `shop.Store`, for routing and figures by method: three unary methods
 * (Read, Write, List) and a server stream (Watch), JSON-serialized like the echo service. Every
 * reply names the server (subset) that produced it. Every test server serves it
 * (servers.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { jsonMethod } from './echo-service.js';

export interface ShopRequest {
  item?: string;
  /** Ask the server named `failOn` (any server without it) to fail the call with this code. */
  failWith?: number;
  /** Unary: with `failWith`, fail only every `failEvery`-th call of this method that the server
   * (`failOn`) receives: an exact failure rate whatever the routing. */
  failEvery?: number;
  failOn?: string;
  /** Watch: how many replies (before failing, with `failWith`). */
  count?: number;
  /** Watch: the server named `slowServer` (every server without it) waits this long, on a timer
   * of its own, before its first reply. */
  firstDelayMs?: number;
  slowServer?: string;
  /** Watch: the server waits this long, on a timer, between two replies. */
  intervalMs?: number;
}

export interface ShopReply {
  server: string;
  method: string;
  item?: string;
  index?: number;
}

export const shopService = {
  read: jsonMethod('/shop.Store/Read'),
  write: jsonMethod('/shop.Store/Write'),
  list: jsonMethod('/shop.Store/List'),
  watch: jsonMethod('/shop.Store/Watch', false, true),
} satisfies grpc.ServiceDefinition;

/** The full method names, as the split sees them. */
export const SHOP = {
  read: '/shop.Store/Read',
  write: '/shop.Store/Write',
  list: '/shop.Store/List',
  watch: '/shop.Store/Watch',
} as const;

export type ShopUnaryMethod = 'read' | 'write' | 'list';

export const ShopClient = grpc.makeGenericClientConstructor(shopService, 'shop.Store');
export type ShopClientInstance = InstanceType<typeof ShopClient>;

export function shopClient(
  target: string,
  options: grpc.ChannelOptions = {},
  credentials = grpc.credentials.createInsecure(),
): ShopClientInstance {
  return new ShopClient(target, credentials, options);
}

/** Handlers of a server named `server`. */
export function shopHandlers(server: string): grpc.UntypedServiceImplementation {
  const received = new Map<string, number>();
  const unary =
    (name: string) =>
    (call: grpc.ServerUnaryCall<ShopRequest, ShopReply>, callback: grpc.sendUnaryData<ShopReply>) => {
      const request = call.request;
      const mine = request.failOn === undefined || request.failOn === server;
      const nth = mine ? (received.get(name) ?? 0) + 1 : 0;
      if (mine) received.set(name, nth);
      if (request.failWith && mine && (request.failEvery === undefined || nth % request.failEvery === 0)) {
        const details = `${server} fails ${name} with ${request.failWith}`;
        const metadata = new grpc.Metadata();
        callback(Object.assign(new Error(details), { code: request.failWith, details, metadata }));
        return;
      }
      callback(null, { server, method: name, item: request.item });
    };
  return {
    read: unary('Read'),
    write: unary('Write'),
    list: unary('List'),
    watch: (call: grpc.ServerWritableStream<ShopRequest, ShopReply>) => {
      const request = call.request;
      const count = request.count ?? 3;
      const fails = request.failWith && (request.failOn === undefined || request.failOn === server);
      const slow = request.firstDelayMs && (request.slowServer === undefined || request.slowServer === server);
      const write = (index: number): void => {
        if (index < count) {
          call.write({ server, method: 'Watch', index });
          if (request.intervalMs) setTimeout(() => write(index + 1), request.intervalMs).unref();
          else write(index + 1);
        } else if (fails) {
          const details = `${server} fails Watch with ${request.failWith} after ${count} replies`;
          // grpc-js's way to end a server stream with a status: the 'error' event.
          call.emit('error', Object.assign(new Error(details), { code: request.failWith, details }));
        } else call.end();
      };
      if (slow) setTimeout(() => write(0), request.firstDelayMs).unref();
      else write(0);
    },
  };
}

/** One unary call of `name` as a promise. */
export function callShop(
  client: ShopClientInstance,
  name: ShopUnaryMethod,
  request: ShopRequest = {},
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<ShopReply> {
  type UnaryCall = (
    request: ShopRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, reply?: ShopReply) => void,
  ) => grpc.ClientUnaryCall;
  const call = ((client as unknown as Record<string, UnaryCall>)[name] as UnaryCall).bind(client);
  return new Promise((resolve, reject) => {
    call(request, metadata, options, (error: grpc.ServiceError | null, reply?: ShopReply) =>
      error ? reject(error) : resolve(reply!),
    );
  });
}

/** How a stream ended, and the messages it delivered first. */
export interface StreamEnd<T> {
  replies: T[];
  code: grpc.status;
}

/** Reads `call` to its end; never rejects (a failure is its `code`). */
export function drainStream<T>(call: grpc.ClientReadableStream<T>): Promise<StreamEnd<T>> {
  const replies: T[] = [];
  return new Promise((resolve) => {
    call.on('data', (reply: T) => replies.push(reply));
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => resolve({ replies, code: status.code }));
  });
}

/** One Watch call, read to its end. */
export function watchShop(
  client: ShopClientInstance,
  request: ShopRequest = {},
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<StreamEnd<ShopReply>> {
  type Watch = (r: ShopRequest, m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<ShopReply>;
  return drainStream((client as unknown as { watch: Watch }).watch(request, metadata, options));
}

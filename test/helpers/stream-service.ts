/**
 * A long-lived server-streaming method for the stream tests: `test.Feed/Subscribe` answers with
 * one message naming the server, then holds the stream open until the client ends it or the test
 * ends it from the server (`endOne()`). Each server counts the subscriptions it holds open, so a
 * test can assert placement on the servers themselves. Served beside the echo service, JSON
 * encoded like it.
 */
import * as grpc from '@grpc/grpc-js';
import dc from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { echoHandlers, echoService, jsonMethod } from './echo-service.js';

/** Sockets accepted per local port (Node publishes each one a net.Server accepts). */
const socketsByPort = new Map<number, Set<Socket>>();
dc.subscribe('net.server.socket', (message) => {
  const socket = (message as { socket: Socket }).socket;
  const port = socket.localPort;
  if (port === undefined) return;
  let open = socketsByPort.get(port);
  if (!open) socketsByPort.set(port, (open = new Set()));
  open.add(socket);
  socket.once('close', () => open!.delete(socket));
});

export interface SubscribeRequest {
  /** The client's name for this subscription. */
  id: string;
}

export interface FeedMessage {
  server: string;
  id: string;
}

export const feedService = {
  subscribe: jsonMethod('/test.Feed/Subscribe', false, true),
} satisfies grpc.ServiceDefinition;

/** One client type for both services. */
export const FeedClient = grpc.makeGenericClientConstructor({ ...echoService, ...feedService }, 'test.Feed');
export type FeedClientInstance = InstanceType<typeof FeedClient> & {
  subscribe(
    request: SubscribeRequest,
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<FeedMessage>;
  echo(request: object, callback: grpc.requestCallback<{ server: string }>): grpc.ClientUnaryCall;
};

export function feedClient(target: string, options: grpc.ChannelOptions = {}): FeedClientInstance {
  return new FeedClient(target, grpc.credentials.createInsecure(), options) as FeedClientInstance;
}

/** A real server with the echo and feed services on 127.0.0.1. */
export interface FeedServer {
  readonly name: string;
  readonly port: number;
  readonly target: string;
  /** Ids of the subscriptions open on this server now. */
  openIds(): string[];
  /** Ends subscription `id` from the server side with OK; false when it is not open here. */
  endOne(id: string): boolean;
  /** A crash seen from the client: connections reset (streams end UNAVAILABLE), no more accepted. */
  kill(): void;
}

export async function startFeedServer(name: string, port = 0): Promise<FeedServer> {
  const server = new grpc.Server();
  const open = new Map<string, grpc.ServerWritableStream<SubscribeRequest, FeedMessage>>();
  server.addService(echoService, echoHandlers(name));
  server.addService(feedService, {
    subscribe: (call: grpc.ServerWritableStream<SubscribeRequest, FeedMessage>) => {
      const id = call.request.id;
      open.set(id, call);
      const forget = (): void => {
        if (open.get(id) === call) open.delete(id);
      };
      call.on('cancelled', forget);
      call.on('close', forget);
      call.on('error', forget);
      call.write({ server: name, id });
    },
  });
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    name,
    port: boundPort,
    target: `ipv4:127.0.0.1:${boundPort}`,
    openIds: () => [...open.keys()].sort(),
    endOne: (id) => {
      const call = open.get(id);
      if (call === undefined) return false;
      open.delete(id);
      call.end();
      return true;
    },
    kill: () => {
      for (const socket of socketsByPort.get(boundPort) ?? []) socket.destroy();
      server.forceShutdown();
    },
  };
}

/** One subscription as the client sees it. */
export interface Subscription {
  readonly id: string;
  /** The server of its first message; null until then. */
  server: string | null;
  /** Its final status, or null while open. */
  ended: grpc.StatusObject | null;
  readonly call: grpc.ClientReadableStream<FeedMessage>;
  /** Resolves with the server once the first message arrives (rejects if it ends first). */
  readonly placed: Promise<string>;
}

/** Opens subscription `id`; `onEnd` hears its final status. */
export function subscribe(
  client: FeedClientInstance,
  id: string,
  options: grpc.CallOptions = {},
  onEnd?: (s: Subscription) => void,
  metadata = new grpc.Metadata(),
): Subscription {
  const call = client.subscribe({ id }, metadata, options);
  let resolvePlaced!: (server: string) => void;
  let rejectPlaced!: (error: Error) => void;
  const placed = new Promise<string>((resolve, reject) => {
    resolvePlaced = resolve;
    rejectPlaced = reject;
  });
  placed.catch(() => {});
  const subscription: Subscription = { id, server: null, ended: null, call, placed };
  call.on('data', (message: FeedMessage) => {
    if (subscription.server === null) {
      subscription.server = message.server;
      resolvePlaced(message.server);
    }
  });
  // The stream's errors arrive through 'status' too; without a listener 'error' would throw.
  call.on('error', () => {});
  call.on('status', (status: grpc.StatusObject) => {
    subscription.ended = status;
    rejectPlaced(new Error(`subscription ${id} ended before its first message: ${status.code} ${status.details}`));
    onEnd?.(subscription);
  });
  return subscription;
}

/**
 * A split over a healthy v1 and a v2 that is healthy or answers every unary call with one
 * status code, plus a driver that makes an exact number of calls through it.
 */
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../../src/index.js';
import {
  callEcho,
  echoClient,
  echoHandlers,
  echoService,
  type EchoClientInstance,
  type EchoRequest,
} from './echo-service.js';
import { startServer } from './servers.js';
import { connect, waitForSubsetsReady } from './split-helpers.js';

export interface RolloutRig {
  split: TrafficSplit;
  client: EchoClientInstance;
}

/** A server whose `echo` always fails with `code` (the other methods behave normally). */
async function startBrokenServer(name: string, code: grpc.status): Promise<{ target: string; stop(): void }> {
  const server = new grpc.Server();
  server.addService(echoService, {
    ...echoHandlers(name),
    echo: (_call: grpc.ServerUnaryCall<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      callback({ code, details: `${name} is broken` }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return { target: `ipv4:127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

/** v1 healthy; v2 healthy or failing every `echo` with `v2FailsWith`. Both READY on return. */
export async function rolloutRig(
  t: TestContext,
  weights: Record<string, number>,
  options: { v2FailsWith?: grpc.status; extra?: Partial<TrafficSplitOptions> } = {},
): Promise<RolloutRig> {
  const v1 = await startServer('v1');
  const v2 =
    options.v2FailsWith === undefined ? await startServer('v2') : await startBrokenServer('v2', options.v2FailsWith);
  const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights, ...options.extra });
  const client = echoClient(split.target, split.channelOptions);
  t.after(async () => {
    client.close();
    split.close();
    await Promise.all([v1.kill(), 'kill' in v2 ? v2.kill() : v2.stop()]);
  });
  connect(client);
  await waitForSubsetsReady(split);
  return { split, client };
}

export interface Traffic {
  /** Replies by server name, failures as `error:<code>`. */
  counts: Record<string, number>;
  calls: number;
}

/**
 * Makes exactly `calls` calls, `concurrency` at a time, and resolves when every one has
 * finished: a rollout on a fake clock then judges exactly these calls, however long they took.
 */
export async function makeCalls(
  client: EchoClientInstance,
  calls: number,
  { request = {}, concurrency = 1 }: { request?: EchoRequest; concurrency?: number } = {},
): Promise<Traffic> {
  const traffic: Traffic = { counts: {}, calls: 0 };
  const worker = async (): Promise<void> => {
    while (traffic.calls < calls) {
      traffic.calls++;
      const key = await callEcho(client, request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }).then(
        (reply) => reply.server,
        (error: grpc.ServiceError) => `error:${error.code}`,
      );
      traffic.counts[key] = (traffic.counts[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return traffic;
}

/** The servers of `n` sequential calls. */
export async function serversOf(client: EchoClientInstance, n: number): Promise<string[]> {
  const servers: string[] = [];
  for (let i = 0; i < n; i++)
    servers.push((await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 5_000 })).server);
  return servers;
}

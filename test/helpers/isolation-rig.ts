/**
 * For the tests that run the same primaries with and without a mirror and compare what the
 * primaries saw: a server scripted per request (and per attempt), runs of calls that record
 * every primary's outcome and latency, and the primary channel's own call count (channelz).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { HangingServerMessage } from '../fixtures/hanging-server.js';
import { echoService, type EchoClientInstance, type EchoRequest } from './echo-service.js';

/** An answer as a reply object, raw response bytes, or an error status; possibly later. */
export type ScriptedAnswer =
  { reply: Record<string, unknown> } | { raw: Buffer } | { code: grpc.status; details: string };

export interface ScriptedServer {
  readonly target: string;
  /** Requests (attempts included) received so far. */
  attempts(): number;
  /** Requests being handled now. */
  inFlight(): number;
  kill(): void;
}

/** Raw responses pass as they are; reply objects are JSON, as echo-service.ts serializes them. */
const rawEcho = {
  echo: {
    ...echoService.echo,
    responseSerialize: (value: unknown): Buffer =>
      Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value)),
  },
} satisfies grpc.ServiceDefinition;

/** True for the first attempt of a call (grpc-js marks retries and hedges with a header). */
export function firstAttempt(metadata: grpc.Metadata): boolean {
  return metadata.get('grpc-previous-rpc-attempts').length === 0;
}

/** A server whose unary `echo` answers `answer(request, metadata)`; it keeps no request. */
export async function scriptedServer(
  answer: (request: EchoRequest, metadata: grpc.Metadata) => ScriptedAnswer | Promise<ScriptedAnswer>,
): Promise<ScriptedServer> {
  const server = new grpc.Server();
  let attempts = 0;
  let inFlight = 0;
  server.addService(rawEcho, {
    echo: (call: grpc.ServerUnaryCall<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      attempts++;
      inFlight++;
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        inFlight--;
        return true;
      };
      call.on('cancelled', finish);
      void Promise.resolve(answer(call.request, call.metadata)).then((result) => {
        if (!finish()) return;
        if ('reply' in result) callback(null, result.reply);
        else if ('raw' in result) callback(null, result.raw);
        else callback({ code: result.code, details: result.details, metadata: new grpc.Metadata() });
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return {
    target: `ipv4:127.0.0.1:${port}`,
    attempts: () => attempts,
    inFlight: () => inFlight,
    kill: () => server.forceShutdown(),
  };
}

/** A server that never answers, in a child process (fixtures/hanging-server.ts); `held()` is
 * the count of calls it holds as it last told (within about 10 ms). */
export async function hangingServerProcess(): Promise<{ target: string; held(): number; kill(): void }> {
  const child = fork(fileURLToPath(new URL('../fixtures/hanging-server.js', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let held = 0;
  const [ready] = (await once(child, 'message')) as [HangingServerMessage];
  if (ready.type !== 'ready') throw new Error(`hanging server: ${JSON.stringify(ready)}`);
  child.on('message', (message: HangingServerMessage) => {
    if (message.type === 'held') held = message.count;
  });
  return { target: `ipv4:127.0.0.1:${ready.port}`, held: () => held, kill: () => child.kill('SIGKILL') };
}

/** What the primaries of one run saw. */
export interface RunResult {
  /** Status code names of the calls that failed, with their details, in order. */
  failures: string[];
  /** Each call's latency in milliseconds, in order of issue. */
  latenciesMs: number[];
}

/**
 * `calls` unary calls, `concurrency` at a time, each with the request `request(i)` and a 10 s
 * deadline; resolves when every call ended.
 */
export async function runCalls(
  client: EchoClientInstance,
  calls: number,
  request: (i: number) => EchoRequest,
  concurrency = 1,
): Promise<RunResult> {
  const result: RunResult = { failures: [], latenciesMs: [] };
  let next = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      client.echo(request(i), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error) => {
        result.latenciesMs[i] = performance.now() - started;
        if (error)
          result.failures.push(
            `${grpc.status[(error as grpc.ServiceError).code]}: ${(error as grpc.ServiceError).details}`,
          );
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (next < calls) await one(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return result;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Calls started on the client's channel so far, as grpc-js's channelz counts them (one per
 * call, whatever its attempts): what shows that no copy went through the primary's channel. */
export function channelCallsStarted(client: grpc.Client): Promise<number> {
  const id = client.getChannel().getChannelzRef().id;
  const handlers = grpc.getChannelzHandlers();
  return new Promise((resolve, reject) => {
    const call = { request: { channel_id: id } } as unknown as Parameters<typeof handlers.GetChannel>[0];
    handlers.GetChannel(call, (error, value) => {
      if (error) reject(error);
      else resolve(Number(value!.channel!.data!.calls_started));
    });
  });
}

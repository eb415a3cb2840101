/**
 * Two real servers on 127.0.0.1 for shadow-traffic tests, each recording the requests it
 * received (so tests count copies on the server side), with an answer chosen per request.
 */
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, type TrafficSplitOptions } from '../../src/index.js';
import { echoClient, echoHandlers, echoService, type EchoClientInstance, type EchoRequest } from './echo-service.js';
import { connect, waitForSubsetsReady, closeAfter, eventually } from './split-helpers.js';

/** What a server answers one request with: a reply object, or an error status. */
export type Answer = { reply: Record<string, unknown> } | { code: grpc.status; details: string };

export interface RecordingServer {
  readonly target: string;
  /** Requests received, in order of arrival. */
  readonly received: EchoRequest[];
  /** Metadata of each received request. */
  readonly metadata: grpc.Metadata[];
  /** Deadline of each received request, in ms since the epoch (Infinity: none), as the server
   * computed it from the `grpc-timeout` header on arrival. */
  readonly deadlines: number[];
  /** Requests being handled now (received, neither answered nor cancelled). */
  inFlight(): number;
  /** The most requests ever in flight at once. */
  peakInFlight(): number;
  kill(): void;
}

/** A server whose unary `echo` answers with `answer(request)`, possibly later (a promise). */
export async function startRecordingServer(
  name: string,
  answer: (request: EchoRequest) => Answer | Promise<Answer>,
): Promise<RecordingServer> {
  const server = new grpc.Server();
  const received: EchoRequest[] = [];
  const metadata: grpc.Metadata[] = [];
  const deadlines: number[] = [];
  let inFlight = 0;
  let peak = 0;
  server.addService(echoService, {
    ...echoHandlers(name),
    echo: (call: grpc.ServerUnaryCall<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      received.push(call.request);
      metadata.push(call.metadata);
      const deadline = call.getDeadline();
      deadlines.push(deadline instanceof Date ? deadline.getTime() : deadline);
      inFlight++;
      peak = Math.max(peak, inFlight);
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        inFlight--;
        return true;
      };
      call.on('cancelled', finish);
      void Promise.resolve(answer(call.request)).then((result) => {
        if (!finish()) return;
        if ('reply' in result) callback(null, result.reply);
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
    received,
    metadata,
    deadlines,
    inFlight: () => inFlight,
    peakInFlight: () => peak,
    kill: () => server.forceShutdown(),
  };
}

/** The answer of a healthy v1: the request's text, nothing else (so v2 can answer identically). */
export const plainAnswer = (request: EchoRequest): Answer => ({ reply: { text: request.text } });

export interface MirrorRig {
  v1: RecordingServer;
  v2: RecordingServer;
  split: TrafficSplit;
  client: EchoClientInstance;
}

/** v1 answering `plainAnswer`, v2 answering `v2Answer`, a split at `weights`, one client; both
 * subsets READY on return (unless `waitForV2` is false). Everything closes after the test. */
export async function mirrorRig(
  t: TestContext,
  v2Answer: (request: EchoRequest) => Answer | Promise<Answer> = plainAnswer,
  options: {
    weights?: Record<string, number>;
    extra?: Partial<TrafficSplitOptions>;
    v2Target?: string;
    clientOptions?: grpc.ClientOptions;
  } = {},
): Promise<MirrorRig> {
  const v1 = await startRecordingServer('v1', plainAnswer);
  const v2 = await startRecordingServer('v2', v2Answer);
  const split = new TrafficSplit({
    subsets: { v1: v1.target, v2: options.v2Target ?? v2.target },
    weights: options.weights ?? { v1: 100, v2: 0 },
    ...options.extra,
  });
  const client = echoClient(
    split.target,
    split.withChannelOptions({
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 200,
      ...options.clientOptions,
    }),
  );
  closeAfter(t, client, split, v1, v2);
  connect(client);
  await waitForSubsetsReady(split, options.v2Target === undefined ? split.subsets : ['v1']);
  return { v1, v2, split, client };
}

/** Resolves once every copy sent has ended and been counted. */
export async function copiesSettled(split: TrafficSplit, timeoutMs = 10_000): Promise<void> {
  await eventually(
    () => {
      const mirror = split.stats().mirror!;
      return mirror.inFlight === 0 && mirror.completed === mirror.sent;
    },
    () => JSON.stringify(split.stats().mirror),
    timeoutMs,
  );
}

/**
 * Closed-loop load for the fault tests: `concurrency` workers, each with one unary call in
 * flight at a time, bounded in calls AND time. Every call has a deadline, and every callback is
 * counted, so a call that ends twice or never is visible.
 */
import * as grpc from '@grpc/grpc-js';
import type { EchoClientInstance, EchoReply, EchoRequest } from './echo-service.js';

export interface LoadOptions {
  concurrency: number;
  /** Stop issuing after this many calls in all. */
  maxCalls: number;
  /** Stop issuing after this long. */
  maxMs: number;
  /** Deadline of each call. @default 5000 */
  deadlineMs?: number;
  /** The client of each call (default: the one given); lets a test spread load over channels. */
  pickClient?: (n: number) => EchoClientInstance;
  request?: EchoRequest;
  /** Called once per call as it ends, with its issue number (0-based). */
  onEnd?: (n: number, error: grpc.ServiceError | null, reply: EchoReply | undefined) => void;
}

export interface CallFailure {
  code: grpc.status;
  details: string;
}

export interface Load {
  /** Calls issued. */
  readonly issued: () => number;
  /** First callbacks received. */
  readonly ended: () => number;
  /** Callbacks received for a call that had already ended: must stay 0. */
  readonly extraCallbacks: () => number;
  readonly failures: CallFailure[];
  /** Successful replies by server name. */
  readonly servers: Map<string, number>;
  /** Stops issuing; calls in flight still end. */
  stop(): void;
  /** Resolves when every worker has seen its last call end. */
  readonly done: Promise<void>;
}

export function startLoad(client: EchoClientInstance, options: LoadOptions): Load {
  const deadlineMs = options.deadlineMs ?? 5_000;
  const stopAt = Date.now() + options.maxMs;
  let issued = 0;
  let ended = 0;
  let extra = 0;
  let stopped = false;
  const failures: CallFailure[] = [];
  const servers = new Map<string, number>();
  const call = (target: EchoClientInstance, n: number): Promise<void> =>
    new Promise((resolve) => {
      let calls = 0;
      target.echo(
        options.request ?? {},
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (error, reply) => {
          if (++calls > 1) {
            extra++;
            return;
          }
          ended++;
          if (error)
            failures.push({ code: (error as grpc.ServiceError).code, details: (error as grpc.ServiceError).details });
          else servers.set(reply!.server, (servers.get(reply!.server) ?? 0) + 1);
          options.onEnd?.(n, error, reply);
          resolve();
        },
      );
    });
  const worker = async (): Promise<void> => {
    while (!stopped && issued < options.maxCalls && Date.now() < stopAt) {
      const n = issued++;
      await call(options.pickClient?.(n) ?? client, n);
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, worker)).then(() => undefined);
  return {
    issued: () => issued,
    ended: () => ended,
    extraCallbacks: () => extra,
    failures,
    servers,
    stop: () => {
      stopped = true;
    },
    done,
  };
}

/** `promise`, or a rejection naming what is still outstanding after `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled after ${timeoutMs} ms: ${describe()}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

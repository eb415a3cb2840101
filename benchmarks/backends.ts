/**
 * Parent side of `server-process.ts`: forks the echo servers, reads their ports and their
 * accepted-connection counts, and stops them.
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ParentMessage } from './server-process.js';

const SCRIPT = fileURLToPath(new URL('./server-process.js', import.meta.url));
const START_TIMEOUT_MS = 15_000;
const QUERY_TIMEOUT_MS = 5_000;

/** Echo servers running in one child process. */
export interface Backends {
  /** Port of each server, by name. */
  readonly ports: Record<string, number>;
  /** `ipv4:127.0.0.1:<port>` of a server. */
  target(name: string): string;
  /** TCP connections each server has accepted since it started, by name. */
  accepted(): Promise<Record<string, number>>;
  /** TCP connections open now on each server, by name. */
  open(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * Starts one child process serving an echo server per name, each on its own 127.0.0.1 port.
 * All servers share the child's core, so the server side costs the same whatever the split.
 * @example const backends = await startBackends(['v1', 'v2']);
 */
export async function startBackends(names: readonly string[]): Promise<Backends> {
  const child = fork(SCRIPT, [...names], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exitGuard = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', exitGuard);
  const ready = await waitFor(
    child,
    (m): m is Extract<ChildMessage, { type: 'ready' }> => m.type === 'ready',
    START_TIMEOUT_MS,
  );
  const ports = Object.fromEntries(ready.servers.map((s) => [s.name, s.port]));
  let nextQuery = 1;
  const query = async (): Promise<Extract<ChildMessage, { type: 'accepted' }>> => {
    const id = nextQuery++;
    const reply = waitFor(
      child,
      (m): m is Extract<ChildMessage, { type: 'accepted' }> => m.type === 'accepted' && m.id === id,
      QUERY_TIMEOUT_MS,
    );
    child.send({ type: 'accepted', id } satisfies ParentMessage);
    return reply;
  };
  return {
    ports,
    target: (name) => {
      const port = ports[name];
      if (port === undefined) throw new Error(`no backend named ${name}`);
      return `ipv4:127.0.0.1:${port}`;
    },
    accepted: async () => (await query()).counts,
    open: async () => (await query()).open,
    stop: async () => {
      process.removeListener('exit', exitGuard);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill('SIGKILL'), QUERY_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves with the first message matching `accept`; rejects on timeout, error or exit. */
function waitFor<T extends ChildMessage>(
  child: ChildProcess,
  accept: (m: ChildMessage) => m is T,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: ChildMessage): void => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`server process: ${message.message}`));
      } else if (accept(message)) {
        cleanup();
        resolve(message);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`server process exited (code ${code})`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`server process: no reply in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

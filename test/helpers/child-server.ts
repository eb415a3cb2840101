/** An echo server in a child process of its own, so that a test can SIGKILL it like a crash. */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { EchoServerMessage } from '../fixtures/echo-server.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/echo-server.js', import.meta.url));

export interface ChildServer {
  readonly name: string;
  readonly port: number;
  /** `ipv4:127.0.0.1:<port>` */
  readonly target: string;
  readonly process: ChildProcess;
  /** SIGKILL (a crash: the kernel closes its sockets); resolves once the process has exited. */
  kill(): Promise<void>;
}

/** Starts `name` on 127.0.0.1:`port` (0: ephemeral); resolves once it listens. */
export async function startChildServer(name: string, port = 0, timeoutMs = 10_000): Promise<ChildServer> {
  const child = fork(SCRIPT, [name, String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  // A timer of our own rather than AbortSignal.timeout(), so that none is left running.
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`server ${name} not listening after ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    const [message] = (await Promise.race([
      once(child, 'message', { signal: abort.signal }),
      exited.then(([code, signal]) => {
        throw new Error(`server ${name} exited before listening (code ${code}, signal ${signal})`);
      }),
    ])) as [EchoServerMessage];
    if (message.type !== 'ready') throw new Error(`server ${name} on port ${port}: ${message.message}`);
    const bound = message.port;
    return {
      name,
      port: bound,
      target: `ipv4:127.0.0.1:${bound}`,
      process: child,
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a compiled fixture (dist/test/fixtures/<name>.js) as a child process and waits for it. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export interface FixtureExit {
  code: number | null;
  /** Set when the fixture had to be killed: it did not exit by itself in time. */
  signal: NodeJS.Signals | null;
  stdout: string;
}

/** Spawns the fixture; after `timeoutMs` it is SIGKILLed (a leaked handle keeps it alive). */
export async function runFixture(name: string, timeoutMs = 10_000): Promise<FixtureExit> {
  const script = fileURLToPath(new URL(`../fixtures/${name}.js`, import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  return { code, signal, stdout };
}

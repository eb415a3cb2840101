import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

describe('lifecycle', () => {
  it('leaves no open handle after close(): a process that only used a split exits by itself', async () => {
    const script = fileURLToPath(new URL('./fixtures/close-and-exit.js', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    // A leaked timer or socket keeps the child alive; give it 10 s, then kill it and fail.
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);
    assert.equal(signal, null, `the process had to be killed; output: ${stdout}`);
    assert.equal(code, 0);
    assert.equal(stdout, 'calls done on v1,v2\n');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runFixture } from './helpers/fixture-process.js';

describe('lifecycle', () => {
  it('leaves no open handle after close(): a process that only used a split exits by itself', async () => {
    // A leaked timer or socket keeps the child alive; it is killed after 10 s, and fails.
    const { code, signal, stdout } = await runFixture('close-and-exit');
    assert.equal(signal, null, `the process had to be killed; output: ${stdout}`);
    assert.equal(code, 0);
    assert.equal(stdout, 'calls done on v1,v2\n');
  });
});

/**
 * examples/fleet runs as its README says: three replica processes on a throw-away etcd, a
 * weight change on one replica's admin endpoint reaching all three, and a rollout promoted, or
 * rolled back after its leader was killed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { skipWithoutEtcd } from '../helpers/etcd.js';

const MAIN = fileURLToPath(new URL('../../examples/fleet/main.js', import.meta.url));

async function run(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [MAIN, ...args], {
    timeout: 120_000,
    env: { ...process.env, ETCD_HOSTS: '' },
  });
  return stdout;
}

describe('the fleet example', { skip: skipWithoutEtcd(), timeout: 300_000 }, () => {
  it('a change on r1 reaches all three replicas; the rollout is promoted on all three', async () => {
    const out = await run();
    for (const name of ['r0', 'r1', 'r2']) {
      assert.match(
        out,
        new RegExp(`\\[${name}\\] applied revision \\d+: \\{"v1":80,"v2":20\\} \\(operator on r1\\)`),
        out,
      );
      assert.match(out, new RegExp(`   ${name}: \\{"v1":0,"v2":100\\}`), out);
    }
    assert.match(out, /promoted: all 2 steps passed/);
  });

  it('--broken-v2 --kill-leader: another replica takes the rollout over and rolls it back on the two left', async () => {
    const out = await run('--broken-v2', '--kill-leader');
    assert.match(out, /SIGKILL r0, which leads the rollout/);
    assert.match(out, /\[r[12]\] leads the fleet's rollouts now/);
    assert.match(out, /rolled-back: step \d \((25|50)%\): errors: v2 /, out);
    assert.deepEqual(out.match(/^ {3}r\d: .*$/gm), ['   r1: {"v1":80,"v2":20}', '   r2: {"v1":80,"v2":20}']);
  });
});

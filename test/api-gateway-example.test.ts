import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startGatewayApp } from '../examples/api-gateway/app.js';
import { runRolloutDemo } from '../examples/api-gateway/rollout-demo.js';
// The example loads the package build: its rollout registry is the package's, not src/'s.
import type { SplitHandle } from 'grpc-traffic-split';
import { activeRollout } from 'grpc-traffic-split/ops';
import { FakeClock } from './helpers/fake-clock.js';

/**
 * Runs the demo with its rollout on a fake clock. Each step ends when this test advances the
 * clock, once v2 has finished at least `minCalls` calls since the step began: the verdicts then
 * depend on the calls the simulated users made, not on how many of them this machine fits into
 * an interval. (node:test's `mock.timers` would reach a rollout started by `POST /rollout`, but
 * it replaces the timers of grpc-js and fetch too, and on Node 20 clearing a timer it did not
 * create corrupts its queue.)
 */
async function runOnFakeClock(
  options: Parameters<typeof runRolloutDemo>[0] & { intervalMs: number; minCalls: number; advanceAfterCalls?: number },
) {
  const clock = new FakeClock();
  let driving: Promise<void> = Promise.resolve();
  const advanceAfter = options.advanceAfterCalls ?? options.minCalls;
  const report = await runRolloutDemo({
    ...options,
    clock,
    onRolloutStarted: (split) => (driving = stepThrough(split, clock, options.intervalMs, advanceAfter)),
  });
  await driving;
  return report;
}

/** Ends each step's interval once v2 has finished `minCalls` calls in it. */
async function stepThrough(split: SplitHandle, clock: FakeClock, intervalMs: number, minCalls: number): Promise<void> {
  const rollout = activeRollout(split)!;
  try {
    while (rollout.state !== 'done') {
      // Taken after the rollout's own mark for the step, so this window is part of the step's.
      const mark = split.mark();
      await pollUntil(() => split.stats({ since: mark }).subsets['v2']!.finished >= minCalls);
      const next = Promise.race([once(rollout, 'step'), rollout.done]);
      clock.advance(intervalMs);
      await next;
    }
  } catch (error) {
    // Let the demo finish (and close its servers) instead of waiting forever on a stuck step.
    await rollout.abort(`test: ${String(error)}`);
    throw error;
  }
}

/** Checks `condition` every 5 ms; a hang guard of 20 s. */
async function pollUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

describe('the api-gateway example', () => {
  it('forwards x-user-id as gRPC metadata, which the split routes by', async (t) => {
    const app = await startGatewayApp({ token: 'example-token-0123456789' });
    t.after(() => app.close());
    const report = async (user: string) => {
      const response = await fetch(`${app.gateway.url}/report`, {
        headers: { 'x-user-id': user },
        signal: AbortSignal.timeout(5_000),
      });
      return [response.status, await response.json()];
    };
    assert.deepEqual(await report('alice'), [200, { version: 'v1', user: 'alice' }]);
    assert.deepEqual(await report('not a user id'), [
      400,
      { error: 'x-user-id: expected 1 to 128 of A-Z a-z 0-9 _ . -' },
    ]);
    const change = await fetch(`${app.admin.url}/runtime_modify?routing.traffic_split.v2=100`, {
      method: 'POST',
      headers: { authorization: 'Bearer example-token-0123456789' },
    });
    assert.equal(change.status, 200);
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    for (const user of users)
      assert.deepEqual(await report(user), [200, { version: app.split.subsetFor(user), user }]);
    assert.ok(
      users.some((user) => app.split.subsetFor(user) === 'v2') &&
        users.some((user) => app.split.subsetFor(user) === 'v1'),
    );
  });

  it('runs the scripted rollout end to end: v2 promoted, no user moved back, no request failed', async () => {
    const lines: string[] = [];
    const { result, traffic } = await runOnFakeClock({
      steps: [10, 50],
      intervalMs: 150,
      minCalls: 5,
      log: (line) => lines.push(line),
    });
    assert.equal(result.outcome, 'promoted', lines.join('\n'));
    assert.deepEqual(
      result.history.map((step) => step.verdict),
      ['pass', 'pass'],
    );
    assert.ok(
      result.history.every((step) => step.figures.calls >= 5 && step.figures.waitedIntervals === 0),
      JSON.stringify(result.history),
    );
    assert.equal(result.durationMs, 300);
    assert.deepEqual(result.weights, { v1: 0, v2: 100 });
    assert.equal(traffic.failed, 0);
    assert.equal(traffic.movedBack.size, 0);
    assert.ok(traffic.byVersion['v2']! > 0, JSON.stringify(traffic.byVersion));
    assert.deepEqual(
      lines.map((line) => line.trim()).filter((line) => /^(step|promoted|weights now)/.test(line)),
      [
        'step 1: weights v1 90 / v2 10',
        'step 2: weights v1 50 / v2 50',
        'promoted: all 2 steps passed',
        'weights now v1 0 / v2 100',
      ],
    );
  });

  it('rolls a broken v2 back after its first step', async () => {
    const lines: string[] = [];
    const { result, traffic } = await runOnFakeClock({
      brokenV2: true,
      steps: [10, 50],
      intervalMs: 150,
      minCalls: 5,
      log: (line) => lines.push(line),
    });
    assert.equal(result.outcome, 'rolled-back', lines.join('\n'));
    assert.equal(result.history.length, 1);
    // Judged at the end of its interval, on at least minCalls calls, every one of them failed.
    const { calls } = result.history[0]!.figures;
    assert.ok(calls >= 5, `${calls} calls`);
    assert.equal(result.reason, `step 1 (10%): error rate 100% (${calls} of ${calls} calls) > 1%`);
    assert.equal(result.durationMs, 150);
    assert.deepEqual(result.weights, { v1: 100, v2: 0 });
    assert.equal(traffic.byVersion['v2'], undefined);
    assert.ok(
      traffic.failedUsers.size > 0 && traffic.failedUsers.size < traffic.users,
      `${traffic.failedUsers.size} users saw errors`,
    );
  });
});

/** The fenced block that follows the line `after` in the example's README. */
function readmeBlock(after: string): string[] {
  const text = readFileSync(new URL('../../examples/api-gateway/README.md', import.meta.url), 'utf8');
  const start = text.indexOf(`${after}\n`);
  assert.ok(start >= 0, `README has no line "${after}"`);
  const match = /```\n([\s\S]*?)```/.exec(text.slice(start));
  assert.ok(match, `no fenced block after "${after}"`);
  return match[1]!.trimEnd().split('\n');
}

/** A demo line with what varies from run to run (ports, counts) replaced by placeholders. */
function masked(line: string): string {
  return line
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>')
    .replace(/\d+ of \d+ calls/g, '<n> of <n> calls')
    .replace(
      /^gateway: \d+ requests, (.*), \d+ failed$/,
      (_all, served: string) => `gateway: <n> requests, ${served.replace(/\d+/g, '<n>')}, <n> failed`,
    )
    .replace(/^users who saw an error: \d+ of \d+/, 'users who saw an error: <n> of <n>');
}

describe('the api-gateway README', () => {
  // The demo with its own defaults (steps 10, 25, 50; 1000 ms; minCalls 20), each step judged
  // once v2 has served minCalls calls, so the lines are the ones a machine fast enough to serve
  // them within the interval prints (the README says what a slower one adds).
  const defaults = { intervalMs: 1_000, minCalls: 20 };

  it('shows the output of a healthy run', async () => {
    const lines: string[] = [];
    await runOnFakeClock({ ...defaults, log: (text) => lines.push(...text.split('\n')) });
    assert.deepEqual(
      lines.map(masked),
      readmeBlock("## Expected output (after npm's build lines; ports and counts vary)").map(masked),
    );
  });

  it('shows the output of a run with --broken-v2', async () => {
    const lines: string[] = [];
    await runOnFakeClock({ ...defaults, brokenV2: true, log: (text) => lines.push(...text.split('\n')) });
    assert.deepEqual(lines.map(masked), readmeBlock('With `--broken-v2`:').map(masked));
  });

  it('shows how a broken v2 is rolled back on a busy machine, before minCalls', async () => {
    // The interval ends when v2 has failed 3 calls, fewer than minCalls (20).
    const lines: string[] = [];
    await runOnFakeClock({
      ...defaults,
      advanceAfterCalls: 3,
      brokenV2: true,
      log: (text) => lines.push(...text.split('\n')),
    });
    const block = readmeBlock('On a busy machine a broken v2 is rolled back before minCalls:');
    const first = lines.indexOf(block[0]!);
    assert.ok(first >= 0, lines.join('\n'));
    assert.deepEqual(lines.slice(first, first + block.length).map(masked), block.map(masked));
  });
});

describe('the api-gateway example with --serve', () => {
  it('prints a change command that gives v2 the 50% it says', async (t) => {
    const main = fileURLToPath(new URL('../examples/api-gateway/main.js', import.meta.url));
    const child = spawn(process.execPath, [main, '--serve', '--no-traffic'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000); // a hang guard only
    t.after(async () => {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    });
    let printed = '';
    child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    while (!printed.includes('Ctrl-C to stop.')) {
      if (child.exitCode !== null) assert.fail(`the example exited: ${printed}`);
      await once(child.stdout, 'data');
    }
    const change =
      /^change: +curl -X POST -H 'authorization: Bearer (\S+)' '(http:\/\/127\.0\.0\.1:\d+\/runtime_modify\?[^']+)'$/m.exec(
        printed,
      );
    assert.ok(change, printed);
    const response = await fetch(change[2]!, {
      method: 'POST',
      headers: { authorization: `Bearer ${change[1]}` },
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(response.status, 200);
    const { weights } = (await response.json()) as { weights: Record<string, number> };
    assert.deepEqual(weights, { v1: 50, v2: 50 });
  });
});

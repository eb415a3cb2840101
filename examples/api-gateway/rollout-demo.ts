/**
 * The scripted scenario: users keep calling the gateway while an operator starts a rollout of
 * v2 through the admin endpoint (as `curl` would) and watches it step by step until it is
 * promoted, or rolled back when v2 is broken.
 */
import { type Clock } from 'grpc-traffic-split';
import { activeRollout, type RolloutResult, type RolloutStepPlan, startRollout } from 'grpc-traffic-split/ops';
import { startGatewayApp } from './app.js';
import { startUsers, type UserTraffic } from './users.js';

export interface RolloutDemoOptions {
  /** v2 answers INTERNAL to every call. @default false */
  brokenV2?: boolean;
  /** v2's share at each step, in percent. @default [10, 25, 50] */
  steps?: number[];
  /** How long each step runs before it is judged. @default 1000 */
  intervalMs?: number;
  /** Fewest v2 calls a step is judged on. @default 20 */
  minCalls?: number;
  /** Extra intervals a step may wait for `minCalls` before the rollout gives up. @default 3 */
  maxWaitIntervals?: number;
  /** Where progress lines go. @default console.log */
  log?: (line: string) => void;
  /**
   * For tests: the rollout's clock. A clock cannot travel in JSON, so the rollout is then started
   * in process with `startRollout(split, options)` instead of `POST /rollout`. @default the real clock
   */
  clock?: Clock;
  /** Called once the rollout runs, with its split (a test follows the steps from there). */
  onRolloutStarted?: (split: Parameters<typeof activeRollout>[0]) => void;
}

export interface RolloutDemoReport {
  result: RolloutResult;
  traffic: UserTraffic;
}

const weightsText = (weights: Record<string, number>): string =>
  Object.entries(weights)
    .map(([name, weight]) => `${name} ${weight}`)
    .join(' / ');

/** Runs the whole scenario on loopback and stops everything it started before resolving. */
export async function runRolloutDemo(options: RolloutDemoOptions = {}): Promise<RolloutDemoReport> {
  const {
    brokenV2 = false,
    steps = [10, 25, 50],
    intervalMs = 1_000,
    minCalls = 20,
    maxWaitIntervals = 3,
    log = console.log,
    clock,
    onRolloutStarted,
  } = options;
  const app = await startGatewayApp({ brokenV2 });
  try {
    log(
      `reporter v1 on 127.0.0.1:${app.v1.port}, v2 on ` +
        `127.0.0.1:${app.v2.port}${brokenV2 ? ' (v2 answers INTERNAL to every call)' : ''}`,
    );
    log(`gateway ${app.gateway.url}/report, sticky by the x-user-id header; admin endpoint ${app.admin.url}`);
    const users = startUsers(app.gateway.url);
    const body = { subset: 'v2', steps, intervalMs, analysis: { maxErrorRate: 0.01, minCalls, maxWaitIntervals } };
    if (clock === undefined) {
      const response = await fetch(`${app.admin.url}/rollout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${app.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const status = (await response.json()) as { plan: RolloutStepPlan[]; error?: string };
      if (response.status !== 202) throw new Error(`POST /rollout answered ${response.status}: ${status.error}`);
    } else {
      // Past its first 'step' event, as when the admin endpoint has answered.
      const started = startRollout(app.split, { ...body, clock });
      await new Promise((resolve) => started.once('step', resolve));
    }
    log(
      `\nPOST /rollout -> 202: v2 at ${steps.join('% -> ')}%, then 100%; each step ` +
        `judged after ${intervalMs} ms (error rate <= 1%, at least ${minCalls} calls)`,
    );
    // The admin endpoint started it in this process, so its events can be followed directly.
    const rollout = activeRollout(app.split);
    if (rollout === undefined) throw new Error('the rollout ended before it could be followed');
    const logStep = (step: RolloutStepPlan): void =>
      log(`step ${step.step + 1}: weights ${weightsText(step.weights)}`);
    // The first step's event fired while the admin endpoint answered; later ones arrive here.
    logStep(rollout.plan[rollout.step]!);
    rollout.on('step', logStep);
    rollout.on('wait', (wait) =>
      log(
        `  only ${wait.calls} calls on v2 so far; waiting one more ` +
          `interval (${wait.waited} of ${wait.maxWaitIntervals})`,
      ),
    );
    rollout.on('verdict', (record) => log(`  ${record.verdict}: ${record.reason}`));
    onRolloutStarted?.(app.split);
    const result = await rollout.done;
    const traffic = await users.stop();
    log(`\n${result.outcome}: ${result.reason}`);
    log(`weights now ${weightsText(result.weights)}`);
    const served = Object.entries(traffic.byVersion)
      .map(([version, n]) => `${n} by ${version}`)
      .join(', ');
    log(`gateway: ${traffic.requests} requests, ${served}, ${traffic.failed} failed`);
    if (result.outcome === 'promoted') {
      log(
        `users moved back from v2 to v1: ${traffic.movedBack.size} ` +
          `(sticky users only ever move toward the growing version)`,
      );
    } else {
      log(
        `users who saw an error: ${traffic.failedUsers.size} of ${traffic.users} ` +
          `(the users v2 had at ${steps[0]}%, until the rollback)`,
      );
    }
    return { result, traffic };
  } finally {
    await app.close();
  }
}

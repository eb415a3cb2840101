/**
 * `npm run example:api-gateway -- [--broken-v2] [--serve [--no-traffic]]`, or from the repository root
 * `node dist/examples/api-gateway/main.js [--broken-v2] [--serve [--no-traffic]]`.
 *
 * Without `--serve`: runs the scripted rollout (see rollout-demo.ts) and exits.
 * With `--serve`: starts the gateway and its admin endpoint and keeps them up until Ctrl-C,
 * printing the URLs, the token and curl commands to try. Simulated users keep calling the
 * gateway meanwhile (a few dozen requests a second; `--no-traffic` turns them off), because a
 * rollout judges the calls v2 serves during each step, and with none it rolls back.
 */
import { startGatewayApp } from './app.js';
import { runRolloutDemo } from './rollout-demo.js';
import { startUsers } from './users.js';

const brokenV2 = process.argv.includes('--broken-v2');

if (process.argv.includes('--serve')) {
  const app = await startGatewayApp({ brokenV2 });
  const users = process.argv.includes('--no-traffic')
    ? null
    : startUsers(app.gateway.url, { concurrency: 2, pauseMs: 50, maxRequests: Infinity, timeoutMs: Infinity });
  const auth = `-H 'authorization: Bearer ${app.token}'`;
  console.log(`gateway: curl -H 'x-user-id: alice' ${app.gateway.url}/report`);
  console.log(`weights: curl ${app.admin.url}/weights`);
  // Weights, not percentages: both are set, so that v2 gets 50% (v2=50 alone beside v1's 100 is 33%).
  console.log(
    `change:  curl -X POST ${auth} ` +
      `'${app.admin.url}/runtime_modify?routing.traffic_split.v1=50&routing.traffic_split.v2=50'`,
  );
  console.log(
    `rollout: curl -X POST ${auth} -d ` +
      `'{"subset":"v2","steps":[10,50],"intervalMs":5000,"analysis":{"maxErrorRate":0.01}}' ${app.admin.url}/rollout`,
  );
  console.log(`status:  curl ${app.admin.url}/rollout`);
  console.log(`metrics: curl ${app.admin.url}/metrics`);
  console.log(
    users
      ? 'traffic: 50 simulated users call the gateway (a few dozen requests/s), ' +
          'so a rollout has calls to judge; --no-traffic turns them off'
      : 'traffic: none (--no-traffic); call the gateway yourself ' +
          'during a rollout, or it rolls back for lack of calls on v2',
  );
  console.log('Ctrl-C to stop.');
  const stop = async (): Promise<void> => {
    const traffic = await users?.stop();
    if (traffic) console.log(`\ngateway: ${traffic.requests} requests, ${traffic.failed} failed`);
    await app.close();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop());
} else {
  await runRolloutDemo({ brokenV2 });
}

/**
 * `node dist/examples/api-gateway/main.js [--broken-v2] [--serve]`
 *
 * Without `--serve`: runs the scripted rollout (see rollout-demo.ts) and exits.
 * With `--serve`: starts the gateway and its admin endpoint and keeps them up until Ctrl-C,
 * printing the URLs, the token and curl commands to try.
 */
import { startGatewayApp } from './app.js';
import { runRolloutDemo } from './rollout-demo.js';

const brokenV2 = process.argv.includes('--broken-v2');

if (process.argv.includes('--serve')) {
  const app = await startGatewayApp({ brokenV2 });
  const auth = `-H 'authorization: Bearer ${app.token}'`;
  console.log(`gateway: curl -H 'x-user-id: alice' ${app.gateway.url}/report`);
  console.log(`weights: curl ${app.admin.url}/weights`);
  console.log(`change:  curl -X POST ${auth} '${app.admin.url}/runtime_modify?routing.traffic_split.v2=50'`);
  console.log(`rollout: curl -X POST ${auth} -d '{"subset":"v2","steps":[10,50],"intervalMs":5000,"analysis":{"maxErrorRate":0.01}}' ${app.admin.url}/rollout`);
  console.log(`status:  curl ${app.admin.url}/rollout`);
  console.log(`metrics: curl ${app.admin.url}/metrics`);
  console.log('Ctrl-C to stop.');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
} else {
  await runRolloutDemo({ brokenV2 });
}

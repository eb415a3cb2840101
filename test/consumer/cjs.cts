// A CommonJS application (what NestJS or Jest compile to): `require()`s the package and its own
// grpc-js, and calls through a split on loopback. Prints one `RESULT <json>` line for the test.
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit, register, type StatusName } from 'grpc-traffic-split';
import { hangGuard, serviceConfigFor, startBackend, whoAmI, WhoAmIClient } from './echo.cjs';

// @ts-expect-error a misspelt status name is not a StatusName
const misspelt: StatusName = 'UNAVAILABL';
void misspelt;

async function main(): Promise<void> {
  hangGuard(30_000);
  const registeredBefore = grpc.experimental.isLoadBalancerNameRegistered('traffic_split');
  const [v1, v2] = await Promise.all([startBackend('v1'), startBackend('v2')]);
  const split = new TrafficSplit({
    name: 'cjs',
    subsets: { v1: v1.address, v2: v2.address },
    weights: { v1: 1, v2: 0 },
  });
  const client = new WhoAmIClient(split.target, grpc.credentials.createInsecure(), split.channelOptions);
  const before = await whoAmI(client, 4);
  split.setWeights({ v1: 0, v2: 1 });
  const after = await whoAmI(client, 4);

  // A channel configured by JSON alone, in the application's own grpc-js.
  register();
  const byJson = new WhoAmIClient(v1.address, grpc.credentials.createInsecure(), {
    'grpc.service_config': serviceConfigFor({ v1: v1.address, v2: v2.address }, { v1: 0, v2: 1 }),
  });
  const serviceConfig = await whoAmI(byJson, 2);

  const result = {
    entry: require.resolve('grpc-traffic-split'),
    esmLoaded: Object.keys(require.cache).some((file) => file.includes('/dist/esm/')),
    registeredBefore,
    registeredAfter: grpc.experimental.isLoadBalancerNameRegistered('traffic_split'),
    before,
    after,
    serviceConfig,
    codes: split.stats().subsets['v2']!.codes,
  };
  client.close();
  byJson.close();
  split.close();
  await Promise.all([v1.stop(), v2.stop()]);
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

// An ES module application: imports the package, and also require()s it as a CommonJS
// dependency of the application would, to show that both entries share one implementation.
// Its types are checked under `strict` with the default libs (DOM included) and no skipLibCheck.
// Prints one `RESULT <json>` line for the test.
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import {
  TrafficSplit,
  TrafficSplitRangeError,
  type ConnectivityStateName,
  type SplitStats,
  type StatusName,
} from 'grpc-traffic-split';
import { renderPrometheusMetrics, type RolloutOptions } from 'grpc-traffic-split/ops';
import { hangGuard, startBackend, whoAmI, WhoAmIClient } from './echo.cjs';

// Names of states and status codes are exact unions: a typo is a compile error.
const ready: ConnectivityStateName = 'READY';
// @ts-expect-error a misspelt state name is not a ConnectivityStateName
const readdy: ConnectivityStateName = 'READDY';
const unavailable: StatusName = 'UNAVAILABLE';
// @ts-expect-error a misspelt status name is not a StatusName
const okk: StatusName = 'OKK';
const rollout: RolloutOptions = {
  subset: 'v2',
  steps: [10, 50],
  intervalMs: 60_000,
  analysis: { maxErrorRate: 0.01, failureCodes: ['UNAVAILABLE', 'INTERNAL'] },
};
const badRollout: RolloutOptions = {
  subset: 'v2',
  steps: [10],
  intervalMs: 60_000,
  // @ts-expect-error a misspelt failure code
  analysis: { maxErrorRate: 0.01, failureCodes: ['UNAVAILABL'] },
};
function okCount(stats: SplitStats): number | undefined {
  // @ts-expect-error a misspelt status code in stats
  void stats.subsets.v1.codes.OKK;
  return stats.subsets.v1.codes.OK;
}
void [ready, readdy, unavailable, okk, rollout, badRollout];

hangGuard(30_000);
const require = createRequire(import.meta.url);
const cjs = require('grpc-traffic-split') as typeof import('grpc-traffic-split');
const [v1, v2] = await Promise.all([startBackend('v1'), startBackend('v2')]);

const split = new TrafficSplit({
  name: 'esm',
  subsets: { v1: v1.address, v2: v2.address },
  weights: { v1: 1, v2: 0 },
});
const client = new WhoAmIClient(split.target, grpc.credentials.createInsecure(), split.channelOptions);
const before = await whoAmI(client, 4);
split.setWeights({ v1: 0, v2: 1 });
const after = await whoAmI(client, 4);

// A split made through the CommonJS entry, used by a client this module builds: its target is
// resolved by whichever entry registered the scheme, so this works only with one registry.
const viaRequire = new cjs.TrafficSplit({
  name: 'required',
  subsets: { v1: v1.address, v2: v2.address },
  weights: { v1: 0, v2: 1 },
});
const crossClient = new WhoAmIClient(viaRequire.target, grpc.credentials.createInsecure(), viaRequire.channelOptions);
const cross = await whoAmI(crossClient, 3);
let typeErrorFromRequire = false;
try {
  viaRequire.setWeights({ v1: -1, v2: 1 });
} catch (error) {
  typeErrorFromRequire = error instanceof TrafficSplitRangeError;
}

const result = {
  entry: import.meta.resolve('grpc-traffic-split'),
  requireEntry: require.resolve('grpc-traffic-split'),
  sameClass: cjs.TrafficSplit === TrafficSplit,
  registered: grpc.experimental.isLoadBalancerNameRegistered('traffic_split'),
  before,
  after,
  cross,
  typeErrorFromRequire,
  ok: okCount(split.stats()),
  // The operations entry works on a split of the core entry (the ops import only its handle).
  metricsLine: renderPrometheusMetrics(split)
    .split('\n')
    .find((line) => line.startsWith('traffic_split_weight{') && line.includes('subset="v2"')),
  opsEntry: import.meta.resolve('grpc-traffic-split/ops'),
  inspected: inspect(split),
};
client.close();
crossClient.close();
split.close();
viaRequire.close();
await Promise.all([v1.stop(), v2.stop()]);
console.log(`RESULT ${JSON.stringify(result)}`);

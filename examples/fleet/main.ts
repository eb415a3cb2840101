/**
 * `npm run example:fleet` (`-- --broken-v2` to watch a rollback, `-- --kill-leader` to kill the
 * leading replica in the middle of the rollout), or from the repository root
 * `node dist/examples/fleet/main.js`. Three gateway replicas (replica.ts), one fleet on etcd:
 * a weight change made on one replica's admin endpoint reaches all three, then one rollout for
 * the fleet, judged on the calls of all three, started on a replica that does not lead.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startBackend } from './backend.js';
import { exampleEtcd } from './etcd.js';
import type { ReplicaConfig } from './replica.js';

const brokenV2 = process.argv.includes('--broken-v2');
const killLeader = process.argv.includes('--kill-leader');
const TOKEN = 'example-admin-token-0123456789';
const NAMES = ['r0', 'r1', 'r2'];

interface Replica {
  name: string;
  child: ChildProcess;
  admin: string;
  /** When it applied each set of weights (by their JSON), on its clock. */
  applied: Map<string, number>;
}

async function admin(replica: Replica, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${replica.admin}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return response.json();
}

const isLive = (replica: Replica): boolean => replica.child.exitCode === null && replica.child.signalCode === null;

/** Resolves once every live replica applied `weights`; returns when the slowest one did. */
async function appliedEverywhere(replicas: Replica[], weights: Record<string, number>): Promise<number> {
  const key = JSON.stringify(weights);
  for (;;) {
    const times = replicas.filter(isLive).map((replica) => replica.applied.get(key));
    if (times.every((at) => at !== undefined)) return Math.max(...(times as number[]));
    await Promise.race(replicas.filter(isLive).map((replica) => once(replica.child, 'message')));
  }
}

const etcd = await exampleEtcd();
const [v1, v2] = await Promise.all([startBackend('v1'), startBackend('v2', brokenV2)]);
const prefix = `/traffic-split/example-${process.pid}`;
const replicas: Replica[] = [];
let leader = '';
for (const name of NAMES) {
  const child = fork(fileURLToPath(new URL('./replica.js', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replica: Replica = { name, child, admin: '', applied: new Map() };
  child.on(
    'message',
    (message: { type: string; weights?: Record<string, number>; at?: number; leader?: string | null }) => {
      if (message.type === 'applied') replica.applied.set(JSON.stringify(message.weights), message.at!);
      if (message.type === 'leader' && message.leader) leader = message.leader;
    },
  );
  child.send({
    name,
    hosts: etcd.hosts,
    prefix,
    v1: v1.address,
    v2: v2.address,
    token: TOKEN,
  } satisfies ReplicaConfig);
  const [ready] = (await once(child, 'message')) as [{ admin: string; leader: string }];
  replica.admin = ready.admin;
  leader = ready.leader;
  replicas.push(replica);
}
console.log(`\n${replicas.length} replicas joined the fleet under ${prefix}; ${leader} leads its rollouts\n`);

console.log('1. PUT /weights {"v1":80,"v2":20} on r1\'s admin endpoint:');
const asked = Date.now();
const put = await admin(replicas[1]!, 'PUT', '/weights', { v1: 80, v2: 20 });
const everywhere = await appliedEverywhere(replicas, { v1: 80, v2: 20 });
console.log(
  `   answer: ${JSON.stringify(put)}; all ${replicas.length} replicas ` +
    `applied it within ${everywhere - asked} ms of the request\n`,
);

const starter = replicas.find((replica) => replica.name !== leader)!;
console.log(
  `2. POST /rollout on ${starter.name} (${leader} leads, so ${leader} runs it): v2 at 25% then ` +
    `50%, judged against v1 on every replica's calls${brokenV2 ? ' (v2 fails 5% of calls)' : ''}`,
);
const started = await admin(starter, 'POST', '/rollout', {
  subset: 'v2',
  steps: [25, 50],
  intervalMs: 2_000,
  analysis: { baseline: 'v1', minCalls: 100, maxLatencyRatio: 3 },
});
console.log(
  `   started: rollout ${started.id}, ` +
    `plan ${started.plan.map((step: { percent: number }) => `${step.percent}%`).join(', ')}`,
);
let killed = false;
let verdicts = 0;
for (;;) {
  const status = await admin(starter, 'GET', '/rollout');
  for (const step of status.history.slice(verdicts)) {
    const errors = (step.reason as string).split('; ').find((part) => part.startsWith('errors:')) ?? step.reason;
    console.log(`   verdict at ${step.percent}%: ${step.verdict}: ${errors}`);
  }
  verdicts = status.history.length;
  if (killLeader && !killed && status.step === 0 && status.leader !== null) {
    const victim = replicas.find((replica) => replica.name === status.leader)!;
    console.log(
      `   SIGKILL ${victim.name}, which leads the rollout: another replica takes it over when its lease (3 s) ends`,
    );
    victim.child.kill('SIGKILL');
    killed = true;
  }
  if (status.state === 'done') {
    console.log(`   ${status.result.outcome}: ${status.result.reason}\n`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
}

console.log('3. GET /weights on every replica:');
for (const replica of replicas.filter(isLive)) {
  console.log(`   ${replica.name}: ${JSON.stringify(await admin(replica, 'GET', '/weights'))}`);
}
const exits = replicas.filter(isLive).map((replica) => once(replica.child, 'exit'));
for (const replica of replicas) if (replica.child.connected) replica.child.disconnect();
await Promise.all(exits);
await Promise.all([v1.stop(), v2.stop()]);
await etcd.stop();

// Runs the fleet tests (dist/test/fleet/*.test.js), which start real etcd servers. Without the
// etcd binary they are skipped with one line saying what to install, except under CI (CI=true),
// where the tests run and fail on it: CI must not pass by skipping them.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const etcd = process.env.ETCD_BIN ?? 'etcd';
const probe = spawnSync(etcd, ['--version'], { stdio: 'ignore', timeout: 10_000 });
if ((probe.error !== undefined || probe.status !== 0) && process.env.CI !== 'true') {
  console.log(`# SKIP fleet tests: ${etcd} not found: install etcd (Debian/Ubuntu: apt-get install etcd-server)`);
  process.exit(0);
}
const files = readdirSync('dist/test/fleet')
  .filter((name) => name.endsWith('.test.js'))
  .map((name) => `dist/test/fleet/${name}`);
const run = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);

#!/usr/bin/env node
// Runs the core tests against every supported @grpc/grpc-js minor (the latest patch of each),
// and checks that an unsupported one is refused with ERR_SPLIT_UNSUPPORTED_GRPC.
//
//   npm run test:grpc-versions                # build, then 1.10 .. 1.14 and the 1.9 refusal
//   npm run test:grpc-versions -- 1.12 1.13   # only these minors
//   node scripts/grpc-versions.mjs --no-build # reuse dist/
//
// Each minor gets a scratch folder (GRPC_VERSIONS_DIR, default <tmp>/grpc-traffic-split-versions)
// with that grpc-js installed by npm, a copy of dist/, and links to the repository's other
// packages, so that '@grpc/grpc-js' resolves to that version for the package, its tests and
// their helper servers alike. The script prints where it resolved and which version it loaded.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SUPPORTED = ['1.10', '1.11', '1.12', '1.13', '1.14'];
const UNSUPPORTED = ['1.9'];
const CORE_TESTS = ['split.e2e', 'service-config', 'lifecycle', 'routing.e2e', 'grpc-versions'];

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const build = !args.includes('--no-build');
const chosen = args.filter((a) => !a.startsWith('--'));
const minors = chosen.length > 0 ? chosen : [...SUPPORTED, ...UNSUPPORTED];
const root = process.env.GRPC_VERSIONS_DIR ?? join(tmpdir(), 'grpc-traffic-split-versions');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

if (build) execFileSync(npm, ['exec', '--', 'tsc', '-p', '.'], { cwd: repo, stdio: 'inherit' });
const { prepareScratchApp } = await import(new URL('../dist/test/helpers/scratch-app.js', import.meta.url).href);

const RESOLVED = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/dist/src/index.js');
console.log(JSON.stringify({ path: require.resolve('@grpc/grpc-js'), version: require('@grpc/grpc-js/package.json').version }));
`;
const REFUSED = `
const { TrafficSplit } = await import('./dist/src/index.js');
try { new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } }).close(); console.log('accepted'); }
catch (error) { console.log(error.code + ' ' + error.message); }
`;

const results = [];
const started = Date.now();
for (const minor of minors) {
  const t0 = Date.now();
  const folder = join(root, minor);
  mkdirSync(folder, { recursive: true });
  console.log(`\n=== @grpc/grpc-js ~${minor}.0 in ${folder}`);
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', folder, `@grpc/grpc-js@~${minor}.0`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const app = prepareScratchApp(folder);
  const resolved = JSON.parse(node(app, ['--input-type=module', '-e', RESOLVED]).stdout);
  console.log(`resolves to ${resolved.path} (${resolved.version})`);
  if (!resolved.version.startsWith(`${minor}.`) || !resolved.path.startsWith(folder)) {
    results.push({ minor, version: resolved.version, ok: false, what: 'resolved the wrong grpc-js', seconds: secondsSince(t0) });
    continue;
  }
  if (UNSUPPORTED.includes(minor)) {
    const out = node(app, ['--input-type=module', '-e', REFUSED]).stdout.trim();
    console.log(out);
    const ok = out.startsWith(`ERR_SPLIT_UNSUPPORTED_GRPC @grpc/grpc-js ${resolved.version} `);
    results.push({ minor, version: resolved.version, ok, what: 'refused at registration', seconds: secondsSince(t0) });
    continue;
  }
  const files = CORE_TESTS.map((name) => `dist/test/${name}.test.js`);
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=dot', ...files], {
    cwd: app,
    stdio: 'inherit',
    env: { ...process.env, GRPC_JS_EXPECTED_VERSION: resolved.version },
  });
  results.push({ minor, version: resolved.version, ok: run.status === 0, what: 'core tests', seconds: secondsSince(t0) });
}

console.log('\ngrpc-js  version   result  seconds  check');
for (const r of results) {
  console.log(`${r.minor.padEnd(8)} ${r.version.padEnd(9)} ${(r.ok ? 'ok' : 'FAILED').padEnd(7)} ${String(r.seconds).padStart(7)}  ${r.what}`);
}
console.log(`total ${secondsSince(started)} s`);
process.exitCode = results.every((r) => r.ok) && results.length === minors.length ? 0 : 1;

function node(cwd, argv) {
  const run = spawnSync(process.execPath, argv, { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`node ${argv.join(' ')} failed in ${cwd}:\n${run.stderr}`);
  return run;
}

function secondsSince(t) {
  return Math.round((Date.now() - t) / 100) / 10;
}

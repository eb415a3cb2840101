#!/usr/bin/env node
// Runs the core tests against every @grpc/grpc-js minor of package.json's
// peerDependencies['@grpc/grpc-js'] (the latest patch of each), and checks that the minor below
// the range is refused with ERR_SPLIT_UNSUPPORTED_GRPC.
//
//   npm run test:grpc-versions                 # build, then every minor of the range and the refusal
//   npm run test:grpc-versions -- 1.12 1.13    # only these minors
//   node scripts/grpc-versions.mjs --no-build --jobs=1
//   node scripts/grpc-versions.mjs --list      # print the range and the minors as JSON (after a build)
//
// Each minor gets a scratch folder (GRPC_VERSIONS_DIR, default <tmp>/grpc-traffic-split-versions):
// npm installs that grpc-js into <folder>/install; <folder>/app holds a copy of dist/; and
// <folder>/node_modules links that grpc-js and the repository's other packages, so that
// '@grpc/grpc-js' resolves to that version for the package, its tests and their helper servers
// alike. Each minor prints where '@grpc/grpc-js' resolved and which version it loaded. Minors run
// `--jobs` at a time (default 3): the tests mostly wait on timers and sockets, not on the CPU.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const CORE_TESTS = [
  'split.e2e',
  'service-config',
  'lifecycle',
  'routing.e2e',
  'idle',
  'grpc-versions',
  'mirror.e2e',
  'streams.e2e',
];

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const list = args.includes('--list');
const build = !args.includes('--no-build') && !list;
const jobs = Number(args.find((a) => a.startsWith('--jobs='))?.slice('--jobs='.length) ?? 3);
const chosen = args.filter((a) => !a.startsWith('--'));
const root = process.env.GRPC_VERSIONS_DIR ?? join(tmpdir(), 'grpc-traffic-split-versions');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = promisify(execFile);

const started = Date.now();
if (build) execFileSync(npm, ['run', 'build'], { cwd: repo, stdio: 'inherit' });
// The range is read here, and parsed by the package's own parser (one parser, one error message).
const versionModule = new URL('../dist/src/policy/grpc/grpc-version.js', import.meta.url);
const { supportedMinorsOf, parseGrpcJsRange } = await import(versionModule.href);
const range = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).peerDependencies?.['@grpc/grpc-js'];
const SUPPORTED = supportedMinorsOf(String(range));
const { major, firstMinor } = parseGrpcJsRange(String(range));
const UNSUPPORTED = firstMinor > 0 ? [`${major}.${firstMinor - 1}`] : [];
if (list) {
  console.log(JSON.stringify({ range, supported: SUPPORTED, refused: UNSUPPORTED }));
  process.exit(0);
}
const minors = chosen.length > 0 ? chosen : [...SUPPORTED, ...UNSUPPORTED];
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

async function runMinor(minor) {
  const t0 = Date.now();
  const folder = join(root, minor);
  const install = join(folder, 'install');
  let log = `\n=== @grpc/grpc-js ~${minor}.0 in ${folder}\n`;
  const done = (version, ok, what) => ({
    minor,
    version,
    ok,
    what,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    log,
  });
  try {
    rmSync(join(folder, 'node_modules'), { recursive: true, force: true });
    mkdirSync(install, { recursive: true });
    await run(npm, [
      'install',
      '--no-audit',
      '--no-fund',
      '--no-save',
      '--loglevel=error',
      '--prefix',
      install,
      `@grpc/grpc-js@~${minor}.0`,
    ]);
    const app = prepareScratchApp(folder, { grpcJs: join(install, 'node_modules', '@grpc', 'grpc-js') });
    const resolved = JSON.parse(
      (await run(process.execPath, ['--input-type=module', '-e', RESOLVED], { cwd: app })).stdout,
    );
    log += `resolves to ${resolved.path} (${resolved.version})\n`;
    if (!resolved.version.startsWith(`${minor}.`) || !resolved.path.startsWith(folder))
      return done(resolved.version, false, 'resolved the wrong grpc-js');
    if (UNSUPPORTED.includes(minor)) {
      const out = (await run(process.execPath, ['--input-type=module', '-e', REFUSED], { cwd: app })).stdout.trim();
      log += `${out}\n`;
      return done(
        resolved.version,
        out.startsWith(`ERR_SPLIT_UNSUPPORTED_GRPC @grpc/grpc-js ${resolved.version} `),
        'refused at registration',
      );
    }
    const files = CORE_TESTS.map((name) => `dist/test/${name}.test.js`);
    const child = spawn(process.execPath, ['--test', ...files], {
      cwd: app,
      env: { ...process.env, GRPC_JS_EXPECTED_VERSION: resolved.version },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise((resolve) => child.on('close', resolve));
    // The summary always; the whole report only when something failed.
    log +=
      code === 0
        ? output
            .split('\n')
            .filter((line) => /^# (tests|pass|fail)/.test(line))
            .join('\n') + '\n'
        : output;
    return done(resolved.version, code === 0, 'core tests');
  } catch (error) {
    log += `${error.stack}\n${error.stderr ?? ''}`;
    return done('?', false, 'setup failed');
  }
}

const queue = [...minors];
const results = [];
await Promise.all(
  Array.from({ length: Math.max(1, jobs) }, async () => {
    while (queue.length > 0) {
      const result = await runMinor(queue.shift());
      process.stdout.write(result.log);
      results.push(result);
    }
  }),
);

results.sort((a, b) => minors.indexOf(a.minor) - minors.indexOf(b.minor));
console.log('\ngrpc-js  version   result  seconds  check');
for (const r of results) {
  console.log(
    `${r.minor.padEnd(8)} ${r.version.padEnd(9)} ${(r.ok ? 'ok' : 'FAILED').padEnd(7)} ${String(r.seconds).padStart(7)}  ${r.what}`,
  );
}
console.log(`total ${Math.round((Date.now() - started) / 1000)} s (build included), ${jobs} at a time`);
process.exitCode = results.length === minors.length && results.every((r) => r.ok) ? 0 : 1;

/**
 * `npm test` (the inner loop) and `npm run test:release` (packing, soak and stress files, the
 * fleet on etcd, the grpc-js matrix) together run every test file exactly once, and CI runs both.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
type Manifest = { scripts: Record<string, string> };
const manifest = JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as Manifest;
const inner = manifest.scripts['test']!;
const release = manifest.scripts['test:release']!;

/** Every `*.test.ts` under test/, as `test/...` paths. */
function testFiles(directory = join(REPOSITORY, 'test')): string[] {
  return readdirSync(directory)
    .sort()
    .flatMap((name) => {
      const path = join(directory, name);
      if (statSync(path).isDirectory()) return testFiles(path);
      return name.endsWith('.test.ts') ? [relative(REPOSITORY, path).split('\\').join('/')] : [];
    });
}

/** The test sources a `dist/test/<folder>*.test.js` glob in a command runs: one folder, no subfolders. */
function globbed(command: string): string[] {
  const folders = [...command.matchAll(/dist\/test\/((?:[\w-]+\/)*)\*\.test\.js/g)].map((match) => `test/${match[1]}`);
  const inFolder = (file: string, folder: string): boolean =>
    file.startsWith(folder) && !file.slice(folder.length).includes('/');
  return testFiles().filter((file) => folders.some((folder) => inFolder(file, folder)));
}

describe('the test commands', () => {
  it('run every test file exactly once between npm test and npm run test:release', () => {
    const fleetScript = readFileSync(join(REPOSITORY, 'scripts/fleet-tests.mjs'), 'utf8');
    assert.match(release, /node scripts\/fleet-tests\.mjs/);
    assert.match(fleetScript, /readdirSync\('dist\/test\/fleet'\)/);
    const fleet = testFiles().filter((file) => file.startsWith('test/fleet/'));
    const counts = new Map<string, number>();
    for (const file of [...globbed(inner), ...globbed(release), ...fleet]) {
      counts.set(file, (counts.get(file) ?? 0) + 1);
    }
    const wrong = testFiles().filter((file) => counts.get(file) !== 1);
    assert.deepEqual(
      wrong.map((file) => `${file}: run ${counts.get(file) ?? 0} times`),
      [],
    );
    assert.ok(globbed(inner).length > 50 && globbed(release).length > 5, 'both commands run files');
  });

  it('npm test leaves out the packed package, and the release run has the grpc-js matrix', () => {
    assert.deepEqual(
      globbed(inner).filter((file) => /package|bundle|entry-points/.test(file)),
      [],
    );
    assert.match(release, /node scripts\/grpc-versions\.mjs --no-build/);
  });

  it('CI runs npm test, then npm run test:release', () => {
    const steps = readFileSync(join(REPOSITORY, '.ci/run'), 'utf8')
      .split('\n')
      .filter((line) => /^npm /.test(line));
    assert.deepEqual(steps, ['npm ci', 'npm test', 'npm run test:release']);
  });

  it('build: outputs whose source is gone are removed before the incremental compile, and only those', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'gts-prune-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const files = ['test/kept.test.ts', 'src/a/kept.ts', 'src/a/kept.mts'];
    const kept = ['dist/cjs/a/kept.d.ts', 'dist/cjs/a/kept.js', 'dist/cjs/a/kept.mjs', 'dist/cjs/package.json'];
    kept.push('dist/test/kept.test.js', 'dist/test/kept.test.js.map');
    const gone = ['dist/test/gone.test.js', 'dist/test/gone.test.js.map', 'dist/test/old/gone.test.js'];
    gone.push('dist/cjs/a/gone.d.ts.map', 'dist/src/a/gone.js');
    for (const file of [...files, ...kept, ...gone]) {
      mkdirSync(join(root, dirname(file)), { recursive: true });
      writeFileSync(join(root, file), '');
    }
    const prune = join(REPOSITORY, 'scripts/prune-dist.mjs');
    const out = execFileSync(process.execPath, [prune], { cwd: root, encoding: 'utf8' });
    assert.equal(out, 'prune-dist: removed 5 outputs whose source is gone\n');
    const left = (directory: string): string[] =>
      readdirSync(join(root, directory)).flatMap((name) => {
        const path = join(directory, name);
        return statSync(join(root, path)).isDirectory() ? left(path) : [path];
      });
    assert.deepEqual(left('dist').sort(), kept);
  });
});

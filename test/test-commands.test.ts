/**
 * `npm test` (the inner loop) and `npm run test:release` (packing, soak and stress files, the
 * fleet on etcd, the grpc-js matrix) together run every test file exactly once, and CI runs both.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
const scripts = (
  JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;

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
  return testFiles().filter((file) =>
    folders.some((folder) => file.startsWith(folder) && !file.slice(folder.length).includes('/')),
  );
}

describe('the test commands', () => {
  it('run every test file exactly once between npm test and npm run test:release', () => {
    const fleetScript = readFileSync(join(REPOSITORY, 'scripts/fleet-tests.mjs'), 'utf8');
    assert.match(scripts['test:release']!, /node scripts\/fleet-tests\.mjs/);
    assert.match(fleetScript, /readdirSync\('dist\/test\/fleet'\)/);
    const runs = [
      ...globbed(scripts['test']!),
      ...globbed(scripts['test:release']!),
      ...testFiles().filter((f) => f.startsWith('test/fleet/')),
    ];
    const counts = new Map<string, number>();
    for (const file of runs) counts.set(file, (counts.get(file) ?? 0) + 1);
    assert.deepEqual(
      testFiles()
        .filter((file) => counts.get(file) !== 1)
        .map((file) => `${file}: run ${counts.get(file) ?? 0} times`),
      [],
    );
    assert.ok(
      globbed(scripts['test']!).length > 50 && globbed(scripts['test:release']!).length > 5,
      'both commands run files',
    );
  });

  it('npm test leaves out the packed package, and the release run has the grpc-js matrix', () => {
    assert.deepEqual(
      globbed(scripts['test']!).filter((file) => /package|bundle|entry-points/.test(file)),
      [],
    );
    assert.match(scripts['test:release']!, /node scripts\/grpc-versions\.mjs --no-build/);
  });

  it('CI runs npm test, then npm run test:release', () => {
    const steps = readFileSync(join(REPOSITORY, '.ci/run'), 'utf8')
      .split('\n')
      .filter((line) => /^npm /.test(line));
    assert.deepEqual(steps, ['npm ci', 'npm test', 'npm run test:release']);
  });
});

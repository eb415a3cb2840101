/**
 * The supported grpc-js range is written in one place, package.json's
 * `peerDependencies['@grpc/grpc-js']`: the build copies it into the package, and the version
 * check, the version matrix (scripts/grpc-versions.mjs) and the tests' expectations derive from it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { transformSync } from 'esbuild';
import { SUPPORTED_GRPC_JS_RANGE } from '../src/index.js';
import { GRPC_JS_PEER_RANGE } from '../src/policy/grpc/grpc-range.generated.js';
import { parseGrpcJsRange, supportedMinorsOf } from '../src/policy/grpc/grpc-version.js';
import { PACKAGE_JSON, packageGrpcJsRange, rangeInMessage, versionTable } from './helpers/grpc-range.js';

type VersionModule = typeof import('../src/policy/grpc/grpc-version.js');

const REPOSITORY = dirname(PACKAGE_JSON);
const RANGE = packageGrpcJsRange();

const UTF8 = { encoding: 'utf8' } as const;

/** Copies the build step and the matrix script into `root`: they read the package.json next to them. */
function copyScripts(root: string): void {
  mkdirSync(join(root, 'scripts'));
  for (const script of ['write-grpc-range.mjs', 'grpc-versions.mjs']) {
    copyFileSync(join(REPOSITORY, 'scripts', script), join(root, 'scripts', script));
  }
}

/** Copies compiled files (paths under dist/src) into `root`'s dist/src. */
function copyBuilt(root: string, files: readonly string[]): void {
  for (const file of files) {
    mkdirSync(dirname(join(root, 'dist/src', file)), { recursive: true });
    copyFileSync(join(REPOSITORY, 'dist/src', file), join(root, 'dist/src', file));
  }
}

/** The text files of the repository a contributor writes (not the lockfile npm writes). */
function writtenFiles(directory: string = REPOSITORY): string[] {
  const files: string[] = [];
  for (const name of readdirSync(directory).sort()) {
    const path = join(directory, name);
    const inRepository = relative(REPOSITORY, path);
    if (['node_modules', 'dist', '.git', 'package.json', 'package-lock.json'].includes(inRepository)) continue;
    if (statSync(path).isDirectory()) files.push(...writtenFiles(path));
    else if (/\.(ts|mts|cts|mjs|js|json|md)$|^\.ci\/run$/.test(inRepository)) files.push(inRepository);
  }
  return files;
}

describe('the supported grpc-js range: package.json alone', () => {
  it('is what the built package checks', () => {
    assert.equal(GRPC_JS_PEER_RANGE, RANGE);
    assert.equal(SUPPORTED_GRPC_JS_RANGE, RANGE);
  });

  it('is written nowhere else: no file repeats the range or its span of minors', () => {
    const [first, last] = [supportedMinorsOf(RANGE)[0]!, supportedMinorsOf(RANGE).at(-1)!];
    const written = [RANGE, `${first} to ${last}`, `${first} .. ${last}`, `${first}-${last}`];
    const found = writtenFiles()
      .filter((file) => file !== 'src/policy/grpc/grpc-range.generated.ts')
      .flatMap((file) => {
        const text = readFileSync(join(REPOSITORY, file), 'utf8');
        return written.filter((range) => text.includes(range)).map((range) => `${file}: ${range}`);
      });
    assert.deepEqual(found, []);
  });

  it('has the one form the check reads, and any other form is refused naming the field and value', () => {
    assert.deepEqual(parseGrpcJsRange('>=2.3.4 <2.5.0'), { major: 2, firstMinor: 3, firstPatch: 4, lastMinor: 4 });
    assert.deepEqual(supportedMinorsOf('>=2.3.4 <2.5.0'), ['2.3', '2.4']);
    const others = ['^2.3.0', '>=2.3.0 <3.0.0', '>=2.3.0 <2.3.0', '>=2.3.0 <2.5.1', '>=2.3 <2.5', ' >=2.3.0 <2.5.0'];
    for (const range of others) {
      assert.throws(() => parseGrpcJsRange(range), {
        message:
          `package.json peerDependencies["@grpc/grpc-js"] is ${JSON.stringify(range)}: expected ">=M.a.p <M.b.0" ` +
          '(one major M, minors a to b - 1, b > a), the only form the version check reads',
      });
    }
    parseGrpcJsRange(RANGE);
  });

  it('changes the version check, the matrix and the expectations when package.json alone changes', async (t) => {
    const { major, firstMinor, lastMinor } = parseGrpcJsRange(RANGE);
    const moved = `>=${major}.${firstMinor + 1}.0 <${major}.${lastMinor + 3}.0`;
    const root = mkdtempSync(join(tmpdir(), 'gts-grpc-range-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    // A copy of the repository's package.json with the range moved, beside the scripts.
    const manifest = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { peerDependencies: Record<string, string> };
    const peerDependencies = { ...manifest.peerDependencies, '@grpc/grpc-js': moved };
    writeFileSync(join(root, 'package.json'), JSON.stringify({ ...manifest, peerDependencies }));
    copyScripts(root);
    // The build: the generated module, compiled as tsc would, beside the compiled check.
    execFileSync(process.execPath, [join(root, 'scripts/write-grpc-range.mjs')]);
    const generated = readFileSync(join(root, 'src/policy/grpc/grpc-range.generated.ts'), 'utf8');
    const compiled = join(root, 'dist/src/policy/grpc');
    mkdirSync(compiled, { recursive: true });
    writeFileSync(join(compiled, 'grpc-range.generated.js'), transformSync(generated, { loader: 'ts' }).code);
    copyBuilt(root, ['policy/grpc/grpc-version.js', 'base/errors.js']);
    const check = (await import(pathToFileURL(join(compiled, 'grpc-version.js')).href)) as VersionModule;

    assert.equal(check.SUPPORTED_GRPC_JS_RANGE, moved);
    const expectations = versionTable(moved);
    assert.notDeepEqual(expectations, versionTable(RANGE));
    for (const [version, supported] of expectations) {
      assert.equal(check.isSupportedGrpcJsVersion(version), supported, version);
    }
    assert.equal(check.isSupportedGrpcJsVersion(`${major}.${firstMinor}.0`), false);
    assert.equal(check.isSupportedGrpcJsVersion(`${major}.${lastMinor + 2}.0`), true);
    assert.throws(() => check.assertSupportedGrpcJs({ version: `${major}.${firstMinor}.0`, directory: '/gts' }, []), {
      message:
        `@grpc/grpc-js ${major}.${firstMinor}.0 (/gts) is not supported by grpc-traffic-split: ` +
        `supported versions are ${rangeInMessage(moved)}; install one of them in the application`,
    });

    const matrix = execFileSync(process.execPath, [join(root, 'scripts/grpc-versions.mjs'), '--list'], UTF8);
    const minors = Array.from({ length: lastMinor - firstMinor + 2 }, (_, i) => `${major}.${firstMinor + 1 + i}`);
    assert.deepEqual(JSON.parse(matrix), { range: moved, supported: minors, refused: [`${major}.${firstMinor}`] });
  });

  it('stops the build step and the matrix with the field and value when package.json has another form', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'gts-grpc-range-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    copyScripts(root);
    copyBuilt(root, ['policy/grpc/grpc-version.js', 'policy/grpc/grpc-range.generated.js', 'base/errors.js']);
    const manifest = (peerDependencies: object): string => JSON.stringify({ type: 'module', peerDependencies });
    writeFileSync(join(root, 'package.json'), manifest({ '@grpc/grpc-js': '^2.3.0' }));
    const matrix = spawnSync(process.execPath, [join(root, 'scripts/grpc-versions.mjs'), '--list'], UTF8);
    assert.equal(matrix.status, 1);
    assert.match(matrix.stderr, /Error: package\.json peerDependencies\["@grpc\/grpc-js"\] is "\^2\.3\.0": expected /);
    writeFileSync(join(root, 'package.json'), manifest({}));
    const build = spawnSync(process.execPath, [join(root, 'scripts/write-grpc-range.mjs')], UTF8);
    assert.equal(build.status, 1);
    const field = 'peerDependencies["@grpc/grpc-js"]';
    assert.equal(build.stderr, `${join(root, 'package.json')}: ${field} is undefined: expected a version range\n`);
  });
});

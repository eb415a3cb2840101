/**
 * The package as users receive it: `npm pack`, install the tarball into a scratch project, then
 * type-check and run an ES module and a CommonJS consumer against it (test/consumer/). The rest
 * of the suite imports src/ directly, so only this test sees the published declarations, the
 * `exports` map and the CommonJS build.
 *
 * Nothing is downloaded: the tarball has no dependencies, and the consumer links the
 * repository's own @grpc/grpc-js and @types/node, and runs the repository's TypeScript.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { ConnectivityStateName, StatusName } from '../../src/index.js';
import {
  installPackedApp,
  REPOSITORY,
  resultLine,
  runCommand,
  type CommandResult,
  type PackedApp,
} from '../helpers/packed-app.js';

function assertSucceeded(result: CommandResult, what: string): void {
  assert.equal(result.code, 0, `${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
}

/** The object a consumer printed on its `RESULT` line. */
function resultOf(result: CommandResult, what: string): Record<string, unknown> {
  assertSucceeded(result, what);
  return resultLine(result, what);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

// Compile-time: the spelt-out name unions are exactly grpc-js's enum keys (the build fails
// otherwise), so they cannot drift from grpc-js while staying exact for consumers.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const STATUS_NAMES_MATCH: Same<StatusName, keyof typeof grpc.status> = true;
const STATE_NAMES_MATCH: Same<ConnectivityStateName, keyof typeof grpc.connectivityState> = true;

describe('the package as installed from its tarball', () => {
  let packed: PackedApp | null = null;
  let consumer = '';
  let installed = '';
  let packedFiles: readonly string[] = [];

  before(async () => {
    // The consumer is test/consumer; its grpc-js and Node types are links to the repository's
    // copies (the package declares grpc-js as a peer, so the application is the one that installs it).
    packed = await installPackedApp(
      'traffic-split-package-',
      ['@grpc/grpc-js', '@types/node'],
      path.join(REPOSITORY, 'test', 'consumer'),
    );
    consumer = packed.app;
    installed = packed.installed;
    packedFiles = packed.files;
  });

  after(() => packed?.dispose());

  it('holds LICENSE, README, both builds with their declarations, and the sources its maps name', () => {
    for (const file of [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/cjs/package.json',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/esm/index.js',
      'dist/esm/index.d.ts',
      'dist/cjs/ops/index.js',
      'dist/cjs/ops/index.d.ts',
      'dist/esm/ops/index.js',
      'dist/esm/ops/index.d.ts',
      'dist/cjs/fleet/index.js',
      'dist/cjs/fleet/index.d.ts',
      'dist/esm/fleet/index.js',
      'dist/esm/fleet/index.d.ts',
      'src/index.ts',
      'src/ops/index.ts',
      'src/fleet/index.ts',
    ]) {
      assert.ok(packedFiles.includes(file), `${file} missing from the tarball: ${packedFiles.join(', ')}`);
    }
    assert.deepEqual(
      packedFiles.filter((file) => /^(dist\/(test|src|examples|benchmarks)|test|examples|benchmarks)\//.test(file)),
      [],
    );
    assert.match(readFileSync(path.join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
    assert.deepEqual(JSON.parse(readFileSync(path.join(installed, 'dist/cjs/package.json'), 'utf8')), {
      type: 'commonjs',
    });

    // The declarations that stripInternal once emptied keep their first statement.
    assert.match(
      readFileSync(path.join(installed, 'dist/cjs/policy/grpc/grpc.d.ts'), 'utf8'),
      /from '@grpc\/grpc-js'/,
    );
    assert.match(
      readFileSync(path.join(installed, 'dist/cjs/ops/telemetry/prometheus-text.d.ts'), 'utf8'),
      /PROMETHEUS_CONTENT_TYPE/,
    );

    // Every compiled file maps back to a source shipped in the tarball.
    const files = filesUnder(path.join(installed, 'dist/cjs'));
    const compiled = files.filter((file) => file.endsWith('.js') || file.endsWith('.d.ts'));
    const maps = files.filter((file) => file.endsWith('.map'));
    assert.equal(maps.length, compiled.length, 'one map per .js and .d.ts');
    let sources = 0;
    for (const map of maps) {
      const { sources: names, sourceRoot = '' } = JSON.parse(readFileSync(map, 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      for (const name of names) {
        const source = path.resolve(path.dirname(map), sourceRoot, name);
        assert.ok(
          source.startsWith(installed + path.sep) && existsSync(source),
          `${path.relative(installed, map)} names ${name}, not in the tarball`,
        );
        sources++;
      }
    }
    assert.equal(sources, maps.length);

    // No runtime dependency: the build requires Node built-ins, its own files and the peer grpc-js.
    const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { dependencies?: object };
    assert.equal(pkg.dependencies, undefined);
    const required = new Set<string>();
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/require\("([^"]+)"\)/g)) required.add(match[1]!);
    }
    // src/policy/grpc/grpc.ts reaches three grpc-js modules by path (the peer's own files, checked by
    // test/grpc-internals.test.ts); nothing else outside the package.
    const peerModules = [
      '@grpc/grpc-js',
      '@grpc/grpc-js/build/src/service-config.js',
      '@grpc/grpc-js/build/src/uri-parser.js',
      '@grpc/grpc-js/build/src/resolver.js',
      '@grpc/grpc-js/build/src/subchannel-pool.js',
    ];
    assert.deepEqual(
      [...required].filter((id) => !id.startsWith('node:') && !/^\.\.?\//.test(id) && !peerModules.includes(id)),
      [],
    );
  });

  it('type-checks ES module and CommonJS consumers under strict, default libs, no skipLibCheck', async () => {
    assert.equal(STATUS_NAMES_MATCH && STATE_NAMES_MATCH, true);
    // tsconfig.json of the consumer: strict, module NodeNext, target ES2022 with its default
    // libs (DOM included), skipLibCheck unset. esm.ts and cjs.cts hold @ts-expect-error lines
    // for misspelt state and status names, which fail the check if the names are not exact.
    const tsc = await runCommand(
      process.execPath,
      [path.join(REPOSITORY, 'node_modules/typescript/bin/tsc'), '-p', '.'],
      consumer,
    );
    assertSucceeded(tsc, 'tsc in the consumer');
    const config = JSON.parse(readFileSync(path.join(consumer, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    assert.equal(config.compilerOptions['skipLibCheck'], undefined);
    assert.equal(config.compilerOptions['lib'], undefined);
    assert.equal(config.compilerOptions['strict'], true);
  });

  it('resolves both entry points with their types under moduleResolution node10, node16 and bundler', async () => {
    // node10 ignores the `exports` map: without `typesVersions`, 'grpc-traffic-split/ops' has no
    // declarations there (TS2307). resolutions.ts also passes a plain SplitHandle to the ops.
    const tsc = path.join(REPOSITORY, 'node_modules/typescript/bin/tsc');
    const failures: string[] = [];
    for (const resolution of ['node10', 'node16', 'bundler']) {
      const result = await runCommand(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], consumer);
      if (result.code !== 0) failures.push(`${resolution}: ${result.stdout}${result.stderr}`);
    }
    assert.deepEqual(failures, []);
  });

  it('runs a CommonJS consumer with require(esm) off: calls through a split, policy in its own grpc-js', async (t) => {
    if (!existsSync(path.join(consumer, 'out/cjs.cjs'))) return t.skip('the type-check above failed to emit');
    // Node 20 before 20.17 has no require(esm) at all, and no flag to turn it off.
    const flags = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')
      ? ['--no-experimental-require-module']
      : [];
    const result = resultOf(
      await runCommand(process.execPath, [...flags, 'out/cjs.cjs'], consumer),
      'the CommonJS consumer',
    );
    assert.deepEqual(result, {
      entry: path.join(installed, 'dist/cjs/index.js'),
      esmLoaded: false,
      registeredBefore: false,
      registeredAfter: true,
      before: ['v1', 'v1', 'v1', 'v1'],
      after: ['v2', 'v2', 'v2', 'v2'],
      serviceConfig: ['v2', 'v2'],
      codes: { OK: 4 },
    });
  });

  it('loads the fleet entry, by import and by require, with no etcd3 installed (it only takes a client)', async () => {
    // The consumer installs no etcd3 (an optional peer): the core and /ops run above without it,
    // and the fleet entry itself loads too; only joinFleet() needs the application's client.
    assert.equal(existsSync(path.join(consumer, 'node_modules', 'etcd3')), false);
    const script = `
      import { createRequire } from 'node:module';
      const esm = await import('grpc-traffic-split/fleet');
      const cjs = createRequire(import.meta.url)('grpc-traffic-split/fleet');
      let refused = '';
      try { await esm.joinFleet({}, { client: {}, prefix: '/x' }); } catch (error) { refused = error.name; }
      console.log('RESULT ' + JSON.stringify({ esm: typeof esm.joinFleet, same: esm.joinFleet === cjs.joinFleet, refused }));`;
    const result = resultOf(
      await runCommand(process.execPath, ['--input-type=module', '-e', script], consumer),
      'the fleet entry without etcd3',
    );
    assert.deepEqual(result, { esm: 'function', same: true, refused: 'TrafficSplitTypeError' });
  });

  it('runs an ES module consumer that also require()s the package: one implementation, one registry', async (t) => {
    if (!existsSync(path.join(consumer, 'out/esm.js'))) return t.skip('the type-check above failed to emit');
    const result = resultOf(await runCommand(process.execPath, ['out/esm.js'], consumer), 'the ES module consumer');
    const inspected = result['inspected'];
    delete result['inspected'];
    assert.deepEqual(result, {
      entry: `file://${path.join(installed, 'dist/esm/index.js')}`,
      requireEntry: path.join(installed, 'dist/cjs/index.js'),
      sameClass: true,
      registered: true,
      before: ['v1', 'v1', 'v1', 'v1'],
      after: ['v2', 'v2', 'v2', 'v2'],
      cross: ['v2', 'v2', 'v2'],
      typeErrorFromRequire: true,
      ok: 4,
      metricsLine: 'traffic_split_weight{split="esm",subset="v2"} 1',
      opsEntry: `file://${path.join(installed, 'dist/esm/ops/index.js')}`,
    });
    assert.match(
      String(inspected),
      /^TrafficSplit \{\n {2}name: 'esm',\n {2}target: 'traffic-split:\/\/\/esm-\d+',\n {2}closed: false,\n {2}weights: \{ v1: 0, v2: 1 \},/,
    );
  });
});

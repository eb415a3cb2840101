import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { register, SUPPORTED_GRPC_JS_RANGE, TrafficSplitUnsupportedGrpcError } from '../src/index.js';
import { installedGrpcJs } from '../src/policy/grpc/grpc.js';
import { assertSupportedGrpcJs, isSupportedGrpcJsVersion } from '../src/policy/grpc/grpc-version.js';
import { callEcho } from './helpers/echo-service.js';
import { packageGrpcJsRange, rangeInMessage, refusedVersions, versionTable } from './helpers/grpc-range.js';
import { rig } from './helpers/rig.js';
import { installGrpcJsCopy, prepareScratchApp, runModule } from './helpers/scratch-app.js';

const require = createRequire(import.meta.url);
/** package.json's range: every expectation below derives from it. */
const RANGE = packageGrpcJsRange();

/** Imports the copied package, reports the error of `new TrafficSplit()` as JSON on stdout. */
const TRY_SPLIT = `
const { TrafficSplit, register } = await import('./dist/src/index.js');
const errorOf = (f) => { try { f(); return null; } catch (e) { return { name: e.name, code: e.code, message: e.message, installedVersion: e.installedVersion }; } };
const construct = errorOf(() => new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } }).close());
console.log(JSON.stringify({ loaded: true, construct, register: errorOf(() => register()) }));
`;

describe('supported grpc-js versions', () => {
  it("classifies versions by package.json's range, and only by it", () => {
    assert.equal(SUPPORTED_GRPC_JS_RANGE, RANGE);
    for (const [version, supported] of versionTable(RANGE)) {
      assert.equal(isSupportedGrpcJsVersion(version), supported, version);
    }
  });

  it('names missing extension points when the version cannot be read', () => {
    assert.throws(
      () => assertSupportedGrpcJs(null, ['ChildLoadBalancerHandler', 'endpointToString']),
      (error: unknown) => {
        assert.ok(error instanceof TrafficSplitUnsupportedGrpcError);
        assert.equal(error.code, 'ERR_SPLIT_UNSUPPORTED_GRPC');
        assert.equal(error.installedVersion, null);
        assert.equal(
          error.message,
          '@grpc/grpc-js (version unknown) is not supported by grpc-traffic-split; it lacks ' +
            'experimental.ChildLoadBalancerHandler, experimental.endpointToString: supported versions are ' +
            `${rangeInMessage(RANGE)}; install one of them in the application`,
        );
        return true;
      },
    );
  });

  it('finds the grpc-js it runs on and makes real calls through it', async (t) => {
    const installed = installedGrpcJs();
    const manifest = require('@grpc/grpc-js/package.json') as { version: string };
    assert.ok(installed !== null, 'grpc-js package found');
    assert.equal(installed.version, manifest.version);
    // The version matrix (npm run test:grpc-versions) says which version it installed.
    const expected = process.env['GRPC_JS_EXPECTED_VERSION'];
    if (expected !== undefined) assert.equal(installed.version, expected);
    assert.equal(isSupportedGrpcJsVersion(installed.version), true, installed.version);
    register();
    const { client } = await rig(t, { v1: 1, v2: 1 });
    const served = [];
    for (let i = 0; i < 4; i++) served.push((await callEcho(client)).server);
    assert.deepEqual(served.sort(), ['v1', 'v1', 'v2', 'v2']);
  });

  for (const version of refusedVersions(RANGE)) {
    it(`loads under grpc-js ${version} but refuses to register, naming both versions`, async (t) => {
      const root = realpathSync(mkdtempSync(join(tmpdir(), 'gts-grpc-version-')));
      t.after(() => rmSync(root, { recursive: true, force: true }));
      const grpcDirectory = installGrpcJsCopy(root, version);
      const app = prepareScratchApp(root);
      const result = await runModule(app, TRY_SPLIT);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as { loaded: boolean; construct: unknown; register: unknown };
      const expected = {
        name: 'TrafficSplitUnsupportedGrpcError',
        code: 'ERR_SPLIT_UNSUPPORTED_GRPC',
        installedVersion: version,
        message:
          `@grpc/grpc-js ${version} (${grpcDirectory}) is not supported by grpc-traffic-split: supported versions ` +
          `are ${rangeInMessage(RANGE)}; install one of them in the application`,
      };
      assert.deepEqual(report, { loaded: true, construct: expected, register: expected });
    });
  }
});

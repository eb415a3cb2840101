/**
 * The three entry points of the package build: an application that only splits loads the core
 * and none of the operations; `grpc-traffic-split/ops` adds them; `grpc-traffic-split/fleet` adds
 * the fleet, and none of the three loads `etcd3` (the fleet uses the client it is given). Checked on the modules Node
 * actually loaded, in a fresh process, through the package's own name (as an application
 * imports it).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/** Runs `body` (an ES module) in a fresh Node in the repository and returns the package files
 * it loaded (under dist/cjs, relative to it) and whether @opentelemetry/api was loaded. */
async function loadedBy(body: string): Promise<{ files: string[]; otel: boolean; etcd3: boolean }> {
  const script = `
    import { createRequire } from 'node:module';
    ${body}
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const prefix = ${JSON.stringify(resolve(ROOT, 'dist', 'cjs') + '/')};
    console.log(JSON.stringify({
      files: cache.filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length)).sort(),
      otel: cache.some((id) => id.includes('@opentelemetry')),
      etcd3: cache.some((id) => id.includes('/node_modules/etcd3/')),
    }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    timeout: 60_000,
  });
  return JSON.parse(stdout) as { files: string[]; otel: boolean; etcd3: boolean };
}

describe('entry points', () => {
  it('an application that imports only the core loads no operations module', async () => {
    const { files, otel } = await loadedBy(`
      const { TrafficSplit } = await import('grpc-traffic-split');
      new TrafficSplit({ subsets: { v1: 'dns:///127.0.0.1:1' }, weights: { v1: 1 } }).close();`);
    assert.ok(files.includes('split/traffic-split.js'), files.join(', '));
    assert.ok(files.includes('policy/balancer/policy.js'), files.join(', '));
    assert.deepEqual(
      files.filter((file) => file.startsWith('ops/') || file.startsWith('fleet/')),
      [],
    );
    assert.equal(otel, false);
  });

  it('the same through require()', async () => {
    const { files, etcd3 } = await loadedBy(`createRequire(import.meta.url)('grpc-traffic-split');`);
    assert.ok(files.includes('index.js'), files.join(', '));
    assert.deepEqual(
      files.filter((file) => file.startsWith('ops/') || file.startsWith('fleet/')),
      [],
    );
    assert.equal(etcd3, false);
  });

  it('grpc-traffic-split/fleet loads the fleet and the operations it builds on, and never etcd3', async () => {
    const { files, etcd3 } = await loadedBy(`
      const fleet = await import('grpc-traffic-split/fleet');
      if (typeof fleet.joinFleet !== 'function') throw new Error('no joinFleet');
      createRequire(import.meta.url)('grpc-traffic-split/fleet');`);
    for (const file of [
      'fleet/index.js',
      'fleet/fleet.js',
      'fleet/rollout/rollout-leader.js',
      'ops/rollout/rollout.js',
    ])
      assert.ok(files.includes(file), `${file} not loaded: ${files.join(', ')}`);
    assert.equal(etcd3, false);
  });

  it('import() and require() of each entry point give the same functions under every name', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        import { createRequire } from 'node:module';
        const require = createRequire(import.meta.url);
        const report = {};
        for (const id of ['grpc-traffic-split', 'grpc-traffic-split/ops', 'grpc-traffic-split/fleet']) {
          const esm = await import(id);
          const cjs = require(id);
          const names = Object.keys(cjs).filter((name) => name !== '__esModule').sort();
          report[id] = { names: names.length, missing: names.filter((name) => !(name in esm)), different: names.filter((name) => esm[name] !== cjs[name]) };
        }
        console.log(JSON.stringify(report));`,
      ],
      { cwd: ROOT, timeout: 60_000 },
    );
    const report = JSON.parse(stdout) as Record<string, { names: number; missing: string[]; different: string[] }>;
    // The ES module wrappers re-export the CommonJS build: Node must find every name in it.
    // (The counts only show that names were found; features add names, so they are not pinned.)
    for (const id of ['grpc-traffic-split', 'grpc-traffic-split/ops', 'grpc-traffic-split/fleet']) {
      assert.ok(report[id]!.names >= (id.endsWith('/fleet') ? 5 : 10), `${id}: ${report[id]!.names} names`);
      assert.deepEqual({ ...report[id], names: 0 }, { names: 0, missing: [], different: [] }, id);
    }
  });

  it('grpc-traffic-split/ops loads the operations, on the same core, without @opentelemetry/api', async () => {
    const { files, otel } = await loadedBy(`
      const ops = await import('grpc-traffic-split/ops');
      const core = await import('grpc-traffic-split');
      const split = new core.TrafficSplit({ subsets: { v1: 'dns:///127.0.0.1:1' }, weights: { v1: 1 } });
      if (!ops.renderPrometheusMetrics(split).includes('traffic_split_weight')) throw new Error('no metrics');
      split.close();`);
    for (const file of [
      'ops/index.js',
      'ops/rollout/rollout.js',
      'ops/admin/admin-server.js',
      'ops/admin/weights-file.js',
      'ops/telemetry/split-metrics.js',
      'ops/telemetry/otel.js',
    ]) {
      assert.ok(files.includes(file), `${file} not loaded: ${files.join(', ')}`);
    }
    // One copy of the core: the ops build on the handle the application made.
    assert.equal(files.filter((file) => file === 'split/traffic-split.js').length, 1);
    assert.deepEqual(
      files.filter((file) => file.startsWith('fleet/')),
      [],
    );
    assert.equal(otel, false);
  });
});

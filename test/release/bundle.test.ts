/**
 * An application bundled with esbuild, as a newcomer would: the packed package installed from its
 * tarball, an entry that imports `grpc-traffic-split` and `grpc-traffic-split/ops`, and esbuild
 * with nothing but the entry, `bundle` and `platform: 'node'` (no `external`). The optional peer
 * `@opentelemetry/api` is not installed: the bundle must build without it, run, and load it only
 * if `instrumentTrafficSplit()` is called and it is there.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, type BuildResult } from 'esbuild';
import { installPackedApp, REPOSITORY, resultLine, runCommand, type PackedApp } from '../helpers/packed-app.js';

/** The application: two servers of its own, a split, four calls, Prometheus text, telemetry. */
const ENTRY = `
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from 'grpc-traffic-split';
import { instrumentTrafficSplit, renderPrometheusMetrics } from 'grpc-traffic-split/ops';

const json = { serialize: (value) => Buffer.from(JSON.stringify(value)), deserialize: (bytes) => JSON.parse(bytes.toString()) };
const service = {
  whoAmI: { path: '/bundle.Echo/WhoAmI', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};
const Client = grpc.makeGenericClientConstructor(service, 'Echo');

function startServer(version) {
  const server = new grpc.Server();
  server.addService(service, { whoAmI: (_call, callback) => callback(null, { version }) });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
    error ? reject(error) : resolve({ server, address: 'ipv4:127.0.0.1:' + port })));
}

function call(client) {
  return new Promise((resolve, reject) => client.whoAmI({}, { deadline: Date.now() + 10_000 }, (error, reply) => (error ? reject(error) : resolve(reply.version))));
}

async function main() {
  setTimeout(() => { console.error('the bundle hangs'); process.exit(3); }, 30_000).unref();
  const [v1, v2] = await Promise.all([startServer('v1'), startServer('v2')]);
  const split = new TrafficSplit({ name: 'bundled', subsets: { v1: v1.address, v2: v2.address }, weights: { v1: 1, v2: 0 } });
  const client = new Client(split.target, grpc.credentials.createInsecure(), split.channelOptions);
  const served = [await call(client), await call(client)];
  split.setWeights({ v1: 0, v2: 1 });
  served.push(await call(client), await call(client));
  const weightLine = renderPrometheusMetrics(split).split('\\n').find((line) => line.startsWith('traffic_split_weight{') && line.includes('subset="v2"'));
  const telemetry = await instrumentTrafficSplit(split).then((t) => { t.stop(); return 'started'; }, (error) => error.code);
  client.close();
  split.close();
  await Promise.all([v1, v2].map(({ server }) => new Promise((done) => server.tryShutdown(done))));
  console.log('RESULT ' + JSON.stringify({ served, weightLine, telemetry }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

describe('an application bundled with esbuild', () => {
  let packed: PackedApp | undefined;
  let bundle = '';
  let built: BuildResult | undefined;

  before(async () => {
    packed = await installPackedApp('gts-bundle-');
    writeFileSync(join(packed.app, 'main.mjs'), ENTRY);
    bundle = join(packed.app, 'out', 'bundle.cjs');
    built = await build({
      entryPoints: [join(packed.app, 'main.mjs')],
      bundle: true,
      platform: 'node',
      outfile: bundle,
      logLevel: 'silent',
    });
  });

  after(() => packed?.dispose());

  it('bundles both entry points without @opentelemetry/api and without a warning; the bundle calls through a split', async () => {
    const { root } = packed!;
    assert.deepEqual({ errors: built!.errors, warnings: built!.warnings }, { errors: [], warnings: [] });

    // The bundle alone in a folder: nothing left to resolve at run time, and no OpenTelemetry.
    const alone = join(root, 'alone');
    mkdirSync(alone);
    copyFileSync(bundle, join(alone, 'bundle.cjs'));
    const run = await runCommand(process.execPath, ['bundle.cjs'], alone);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(resultLine(run, 'the bundle'), {
      served: ['v1', 'v1', 'v2', 'v2'],
      weightLine: 'traffic_split_weight{split="bundled",subset="v2"} 1',
      telemetry: 'ERR_SPLIT_OTEL_API_MISSING',
    });
  });

  it('loads @opentelemetry/api at run time from where the bundle is, when it is installed there', async () => {
    const { root } = packed!;
    const withApi = join(root, 'with-api');
    mkdirSync(join(withApi, 'node_modules', '@opentelemetry'), { recursive: true });
    symlinkSync(
      join(REPOSITORY, 'node_modules', '@opentelemetry', 'api'),
      join(withApi, 'node_modules', '@opentelemetry', 'api'),
      'dir',
    );
    copyFileSync(bundle, join(withApi, 'bundle.cjs'));
    const run = await runCommand(process.execPath, ['bundle.cjs'], withApi);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(resultLine(run, 'the bundle').telemetry, 'started');
  });
});

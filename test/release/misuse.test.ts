/**
 * Common mistakes, each made by an application that installed the packed package: every one
 * gets an error or a one-time warning that names the mistake and the fix. One tarball, packed
 * and installed once for the file; each mistake runs in a fresh Node process (warnings are once
 * per process).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { installPackedApp, resultLine, type PackedApp } from '../helpers/packed-app.js';
import { runModule } from '../helpers/scratch-app.js';

/** The repository's grpc-js: the application's own in every scenario. */
const GRPC_JS = realpathSync(dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js/package.json')));
const GRPC_JS_VERSION = (JSON.parse(readFileSync(join(GRPC_JS, 'package.json'), 'utf8')) as { version: string })
  .version;

/** Script lines shared by the scenarios: warnings collected, errors described, servers. */
const PRELUDE = `
import * as grpc from '@grpc/grpc-js';
setTimeout(() => { console.error('the scenario hangs'); process.exit(3); }, 30_000).unref();
const warnings = [];
process.on('warning', (w) => { if (w.name === 'TrafficSplitWarning') warnings.push({ code: w.code, message: w.message }); });
const settled = () => new Promise((resolve) => setImmediate(resolve));
const described = (error) => ({ name: error.name, code: error.code, message: error.message });
const attempt = (f) => { try { f(); return 'accepted'; } catch (error) { return described(error); } };
const json = { serialize: (v) => Buffer.from(JSON.stringify(v)), deserialize: (b) => JSON.parse(b.toString()) };
const service = { whoAmI: { path: '/misuse.Echo/WhoAmI', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } };
function startServer(version) {
  const server = new grpc.Server();
  server.addService(service, { whoAmI: (_call, callback) => callback(null, { version }) });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
    error ? reject(error) : resolve({ address: 'ipv4:127.0.0.1:' + port, stop: () => server.forceShutdown() })));
}
function call(client) {
  return new Promise((resolve) => client.whoAmI({}, { deadline: Date.now() + 10_000 }, (error, reply) =>
    resolve(error ? { code: error.code, details: error.details } : reply.version)));
}
const Client = grpc.makeGenericClientConstructor(service, 'Echo');
`;

describe('misuse, from an application that installed the packed package', () => {
  let packed: PackedApp | undefined;

  before(async () => {
    packed = await installPackedApp('gts-misuse-');
  });

  after(() => packed?.dispose());

  async function scenario(source: string): Promise<Record<string, unknown>> {
    const run = await runModule(packed!.app, PRELUDE + source);
    assert.equal(run.code, 0, `the scenario failed:\n${run.stdout}\n${run.stderr}`);
    return resultLine(run, 'the scenario');
  }

  it('stats({ since }) throws a TrafficSplitTypeError for a mark of another split, a non-mark and a bare mark', async () => {
    const result = await scenario(`
      const { TrafficSplit, TrafficSplitTypeError } = await import('grpc-traffic-split');
      const a = new TrafficSplit({ name: 'a', subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
      const b = new TrafficSplit({ name: 'b', subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
      const foreign = attempt(() => b.stats({ since: a.mark() }));
      const typed = (() => { try { b.stats({ since: a.mark() }); } catch (e) { return e instanceof TrafficSplitTypeError && e instanceof TypeError; } })();
      const result = {
        foreign, typed,
        nonMark: attempt(() => a.stats({ since: { at: 0 } })),
        bareMark: attempt(() => a.stats(a.mark())),
        own: a.stats({ since: a.mark() }).subsets.v1.started,
      };
      a.close(); b.close();
      console.log('RESULT ' + JSON.stringify(result));
    `);
    const error = (message: string) => ({ name: 'TrafficSplitTypeError', code: 'ERR_SPLIT_INVALID_CONFIG', message });
    assert.deepEqual(result, {
      foreign: error(
        'since: expected a mark from mark() of split "b" ' +
          '(traffic-split:///b-2), got a mark of split "a" (traffic-split:///a-1): ' +
          'a mark counts the calls of the split that made it; call mark() on the split whose stats() you read',
      ),
      typed: true,
      nonMark: error(
        'since: expected a mark from mark() of split "a" (traffic-split:///a-1), got `{"at":0}` (object)',
      ),
      bareMark: error(
        'stats(): expected options { since: <a mark of this split> }; take one with mark() on ' +
          'split "a" (traffic-split:///a-1), got a mark itself: pass it as stats({ since: mark })',
      ),
      own: 0,
    });
  });

  it('names both copies of grpc-js when a client built with another copy cannot resolve a split target', async () => {
    // A dependency that pins its own grpc-js beside the application's (the same code here,
    // under another version number): the application builds its client through it.
    const { app, link } = packed!;
    const dependency = join(app, 'node_modules', 'reporter-client');
    const copy = join(dependency, 'node_modules', '@grpc', 'grpc-js');
    mkdirSync(copy, { recursive: true });
    cpSync(join(GRPC_JS, 'build'), join(copy, 'build'), { recursive: true });
    cpSync(join(GRPC_JS, 'proto'), join(copy, 'proto'), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(GRPC_JS, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(copy, 'package.json'), JSON.stringify({ ...manifest, version: '1.13.4' }));
    writeFileSync(
      join(dependency, 'package.json'),
      JSON.stringify({ name: 'reporter-client', version: '1.0.0', main: 'index.js' }),
    );
    writeFileSync(join(dependency, 'index.js'), "module.exports = require('@grpc/grpc-js');\n");
    for (const name of ['@grpc/proto-loader', '@js-sdsl/ordered-map']) link(name);

    const result = await scenario(`
      const { TrafficSplit } = await import('grpc-traffic-split');
      const { default: pinned } = await import('reporter-client');
      const v1 = await startServer('v1');
      const split = new TrafficSplit({ name: 'reporter', subsets: { v1: v1.address }, weights: { v1: 1 } });
      const PinnedClient = pinned.makeGenericClientConstructor(service, 'Echo');
      const client = new PinnedClient(split.target, pinned.credentials.createInsecure(), split.channelOptions);
      const wrong = await call(client);
      const again = await call(client);
      const right = await call(new Client(split.target, grpc.credentials.createInsecure(), split.channelOptions));
      await settled();
      client.close(); split.close(); v1.stop();
      console.log('RESULT ' + JSON.stringify({ wrong, again, right, warnings }));
    `);
    const explanation =
      `traffic-split:///reporter-1: this channel was built with ` +
      `@grpc/grpc-js 1.13.4 (${copy}), but grpc-traffic-split ` +
      `registered its policy in @grpc/grpc-js ${GRPC_JS_VERSION} ` +
      `(${GRPC_JS}): two copies of @grpc/grpc-js are loaded. Build the client ` +
      'with the @grpc/grpc-js the application (and grpc-traffic-split) ' +
      'resolves, or make them one copy (`npm ls @grpc/grpc-js`, ' +
      'then `npm dedupe` or an "overrides" entry in package.json)';
    assert.deepEqual(result, {
      wrong: { code: 14, details: explanation },
      again: { code: 14, details: explanation },
      right: 'v1',
      warnings: [{ code: 'WARN_SPLIT_GRPC_JS_COPIES', message: `traffic_split: ${explanation}` }],
    });
  });

  it('warns once that a service config naming traffic_split needs register(), which the channel otherwise ignores', async () => {
    const source = (registerFirst: boolean) => `
      const { parseConfig, register } = await import('grpc-traffic-split');
      const [direct, v2] = await Promise.all([startServer('direct'), startServer('v2')]);
      ${registerFirst ? 'register();' : ''}
      const config = { subsets: { v2: v2.address }, weights: { v2: 1 } };
      parseConfig(config);
      parseConfig(config);
      const serviceConfig = JSON.stringify({ loadBalancingConfig: [{ traffic_split: config }] });
      const client = new Client(direct.address, grpc.credentials.createInsecure(), { 'grpc.service_config': serviceConfig });
      const served = await call(client);
      await settled();
      client.close(); direct.stop(); v2.stop();
      console.log('RESULT ' + JSON.stringify({ served, warnings }));
    `;
    const message =
      `traffic_split: parseConfig(): the traffic_split policy is not ` +
      `registered in @grpc/grpc-js ${GRPC_JS_VERSION} (${GRPC_JS}), ` +
      'so a channel whose service config names it silently uses ' +
      'pick_first instead; call register() from grpc-traffic-split ' +
      'before creating such channels (new TrafficSplit() registers it too)';
    assert.deepEqual(await scenario(source(false)), {
      served: 'direct',
      warnings: [{ code: 'WARN_SPLIT_NOT_REGISTERED', message }],
    });
    assert.deepEqual(await scenario(source(true)), { served: 'v2', warnings: [] });
  });

  it('warns once per name when two open splits share a name; a closed split frees its name', async () => {
    const result = await scenario(`
      const { TrafficSplit } = await import('grpc-traffic-split');
      const options = (name) => ({ name, subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
      const first = new TrafficSplit(options('reporter'));
      const second = new TrafficSplit(options('reporter'));
      const third = new TrafficSplit(options('reporter'));
      const before = new TrafficSplit(options('billing'));
      before.close();
      const after = new TrafficSplit(options('billing'));
      await settled();
      for (const split of [first, second, third, after]) split.close();
      console.log('RESULT ' + JSON.stringify({ warnings }));
    `);
    assert.deepEqual(result, {
      warnings: [
        {
          code: 'WARN_SPLIT_DUPLICATE_NAME',
          message:
            'traffic_split: split name "reporter" is already used ' +
            'by the open split traffic-split:///reporter-1, and ' +
            'traffic-split:///reporter-2 is named "reporter" too: logs, ' +
            'errors and the split="reporter" metric label cannot tell ' +
            "them apart; give each split its own name (new TrafficSplit({ name: 'reporter', ... }))",
        },
      ],
    });
  });

  it('refuses to start the admin endpoint on a closed split', async () => {
    const result = await scenario(`
      const { TrafficSplit } = await import('grpc-traffic-split');
      const { startAdminServer } = await import('grpc-traffic-split/ops');
      const split = new TrafficSplit({ name: 'gone', subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
      split.close();
      const admin = await startAdminServer(split, { port: 0 }).then((server) => { server.close(); return 'started'; }, described);
      console.log('RESULT ' + JSON.stringify({ admin }));
    `);
    assert.deepEqual(result, {
      admin: {
        name: 'TrafficSplitClosedError',
        code: 'ERR_SPLIT_CLOSED',
        message: 'traffic split "gone" is closed; startAdminServer() is not possible',
      },
    });
  });

  it('refuses rollout steps below 1% unless allowStepsBelowOnePercent says they are meant', async () => {
    const result = await scenario(`
      const { TrafficSplit } = await import('grpc-traffic-split');
      const { startRollout } = await import('grpc-traffic-split/ops');
      const split = new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' }, weights: { v1: 1, v2: 0 } });
      const options = { subset: 'v2', steps: [0.1, 0.5], intervalMs: 60_000, analysis: { maxErrorRate: 0.01 } };
      const fractions = attempt(() => startRollout(split, options));
      const meant = startRollout(split, { ...options, allowStepsBelowOnePercent: true });
      const weights = split.getWeights();
      await meant.abort('test over');
      split.close();
      console.log('RESULT ' + JSON.stringify({ fractions, weights }));
    `);
    assert.deepEqual(result, {
      fractions: {
        name: 'TrafficSplitRangeError',
        code: 'ERR_SPLIT_INVALID_CONFIG',
        message:
          'steps[0]: expected a percentage from 1 to 100, got `0.1` (number): steps are percentages, not fractions ' +
          '([10, 50] is 10% then 50%); for a step below 1% on purpose, set allowStepsBelowOnePercent: true',
      },
      weights: { v1: 99.9, v2: 0.1 },
    });
  });
});

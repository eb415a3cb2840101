/**
 * The source's layers import one way and form no cycle (see test/helpers/layering.ts), and the
 * check does fail when an import runs against them.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkFolderSizes, checkLayers, layerGraph, MAX_FILES_PER_FOLDER, roomGraph } from './helpers/layering.js';

/** The repository's src/ (the tests run from dist/test). */
const SRC = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src');

/** A scratch copy of src/ with `line` appended to `file`. */
function srcWith(t: TestContext, file: string, line: string): string {
  const root = mkdtempSync(join(tmpdir(), 'gts-layers-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  cpSync(SRC, root, { recursive: true });
  appendFileSync(join(root, file), `\n${line}\n`);
  return root;
}

describe('layering of src/', () => {
  it('holds: every import points down a layer or stays in its own, with no cycle', () => {
    assert.deepEqual(checkLayers(SRC), []);
  });

  it('lets layers depend on lower layers only, and ops on the ops port only', () => {
    assert.deepEqual(layerGraph(SRC), [
      'algorithms -> base',
      'entry -> algorithms',
      'entry -> base',
      'entry -> policy',
      'entry -> split',
      'fleet -> algorithms',
      'fleet -> base',
      'fleet -> ops',
      'fleet -> split (ports)',
      'ops -> algorithms',
      'ops -> base',
      'ops -> split (ops-port)',
      'policy -> algorithms',
      'policy -> base',
      'split -> algorithms',
      'split -> base',
      'split -> policy',
    ]);
  });

  it('fails on a reversed import: an algorithm importing the grpc-js integration', (t) => {
    const root = srcWith(t, 'algorithms/schedule/scheduler.ts', "import '../../policy/grpc/grpc.js';");
    assert.deepEqual(checkLayers(root), [
      'src/algorithms/schedule/scheduler.ts imports src/policy/grpc/grpc.ts: algorithms may not import policy',
    ]);
  });

  it('fails when the handle imports the operations (the old split -> rollout edge)', (t) => {
    const root = srcWith(t, 'split/traffic-split.ts', "export { startRollout } from '../ops/rollout/rollout.js';");
    assert.deepEqual(checkLayers(root), [
      'src/split/traffic-split.ts imports src/ops/rollout/rollout.ts: split may not import ops',
    ]);
  });

  it('fails when an operation reaches past the ops port, or the core entry loads ops', (t) => {
    const root = srcWith(t, 'ops/rollout/rollout.ts', "import '../../policy/balancer/split-state.js';");
    appendFileSync(join(root, 'index.ts'), "\nexport { startRollout } from './ops/rollout/rollout.js';\n");
    assert.deepEqual(checkLayers(root), [
      'src/index.ts imports src/ops/rollout/rollout.ts: the core entry point may not import ops',
      'src/ops/rollout/rollout.ts imports src/policy/balancer/split-state.ts: ' +
        'ops reaches policy only through src/split/ops-port.ts',
    ]);
  });

  it('fails when the fleet reaches past its ports, or the core entry or the operations load the fleet', (t) => {
    const root = srcWith(t, 'fleet/fleet.ts', "import '../policy/balancer/split-state.js';");
    appendFileSync(join(root, 'fleet/state/state.ts'), "\nimport '../../split/traffic-split.js';\n");
    appendFileSync(join(root, 'index.ts'), "\nexport { joinFleet } from './fleet/join.js';\n");
    appendFileSync(join(root, 'ops/rollout/rollout.ts'), "\nimport type { Fleet } from '../../fleet/fleet.js';\n");
    assert.deepEqual(
      checkLayers(root).filter((problem) => !problem.startsWith('import cycle')),
      [
        'src/fleet/fleet.ts imports src/policy/balancer/split-state.ts: fleet ' +
          'reaches policy only through src/split/ops-port.ts or src/split/fleet-port.ts',
        'src/fleet/state/state.ts imports src/split/traffic-split.ts: fleet ' +
          'reaches split only through src/split/ops-port.ts or src/split/fleet-port.ts',
        'src/index.ts imports src/fleet/join.ts: the core entry point may not import fleet',
        'src/ops/rollout/rollout.ts imports src/fleet/fleet.ts: ops may not import fleet',
      ],
    );
  });

  it('fails when pure code imports grpc-js, or another file its internals', (t) => {
    const root = srcWith(t, 'algorithms/routing/sticky-hash.ts', "import '@grpc/grpc-js';");
    appendFileSync(join(root, 'policy/balancer/picker.ts'), "\nimport '@grpc/grpc-js/build/src/picker.js';\n");
    assert.deepEqual(checkLayers(root), [
      'src/algorithms/routing/sticky-hash.ts imports @grpc/grpc-js: algorithms may not import grpc-js',
      'src/policy/balancer/picker.ts imports @grpc/grpc-js/build/src/picker.js: ' +
        "only src/policy/grpc/grpc.ts imports grpc-js's internal files",
    ]);
  });

  it('sees every form of import: type-only, export *, dynamic import(), require(), import types, detours', (t) => {
    const root = srcWith(
      t,
      'algorithms/routing/sticky-hash.ts',
      "import type { SplitState } from '../../policy/balancer/split-state.js';",
    );
    appendFileSync(
      join(root, 'algorithms/schedule/scheduler.ts'),
      "\nexport * from '../../policy/balancer/picker.js';\n",
    );
    appendFileSync(
      join(root, 'algorithms/random.ts'),
      "\nexport const later = () => import('../policy/call/hints.js');\n",
    );
    appendFileSync(
      join(root, 'base/clock.ts'),
      "\nimport grpcAdapter = require('../policy/grpc/grpc.js');\nvoid grpcAdapter;\n",
    );
    appendFileSync(
      join(root, 'policy/balancer/picker.ts'),
      "\nexport type Rollout = import('../../ops/rollout/rollout.js').Rollout;\n",
    );
    appendFileSync(join(root, 'split/handle.ts'), "\nimport '../split/../ops/rollout/rollout.js';\n");
    appendFileSync(
      join(root, 'policy/call/hints.ts'),
      "\ndeclare module '../../split/types.js' { interface SplitStats { extra?: number } }\n",
    );
    // (These reversed imports also close cycles, reported after the rules; not the point here.)
    assert.deepEqual(
      checkLayers(root).filter((problem) => !problem.startsWith('import cycle')),
      [
        'src/algorithms/random.ts imports src/policy/call/hints.ts: algorithms may not import policy',
        'src/algorithms/routing/sticky-hash.ts imports ' +
          'src/policy/balancer/split-state.ts: algorithms may not import policy',
        'src/algorithms/schedule/scheduler.ts imports src/policy/balancer/picker.ts: algorithms may not import policy',
        'src/base/clock.ts imports src/policy/grpc/grpc.ts: base may not import policy',
        'src/policy/balancer/picker.ts imports src/ops/rollout/rollout.ts: policy may not import ops',
        'src/policy/call/hints.ts imports src/split/types.ts: policy may not import split',
        'src/split/handle.ts imports src/ops/rollout/rollout.ts: split may not import ops',
      ],
    );
  });

  it('fails on imports that leave the relative paths: the package by its own name, an absolute path', (t) => {
    const root = srcWith(t, 'split/traffic-split.ts', "import type { Rollout } from 'grpc-traffic-split/ops';");
    appendFileSync(join(root, 'policy/balancer/picker.ts'), `\nimport '${join(root, 'ops/rollout/rollout.js')}';\n`);
    assert.deepEqual(checkLayers(root), [
      `src/policy/balancer/picker.ts imports ${join(root, 'ops/rollout/rollout.js')}: ` +
        `src imports its own files by relative path only`,
      'src/split/traffic-split.ts imports grpc-traffic-split/ops: src imports its own files by relative path only',
    ]);
  });

  it('checks .mts, .cts and .tsx files too, and reports a file outside the layer folders', (t) => {
    const root = srcWith(t, 'base/errors.ts', '');
    writeFileSync(join(root, 'algorithms/extra.cts'), "import '../policy/grpc/grpc.js';\nexport const x = 1;\n");
    writeFileSync(join(root, 'split/extra.mts'), "export * from '../algorithms/extra.cjs';\n");
    writeFileSync(join(root, 'helpers.ts'), 'export const y = 2;\n');
    assert.deepEqual(checkLayers(root), [
      'src/algorithms/extra.cts imports src/policy/grpc/grpc.ts: algorithms may not import policy',
      'src/helpers.ts: not in a layer folder (base, algorithms, policy, split, ops, fleet)',
    ]);
  });

  it('fails on an import cycle, naming every file in it', (t) => {
    const root = srcWith(t, 'base/errors.ts', "import './validate.js';");
    assert.deepEqual(checkLayers(root), [
      'import cycle: src/base/errors.ts -> src/base/validate.ts -> src/base/errors.ts',
    ]);
  });
});

/** Without the import cycles the reversed imports of a scratch copy may close. */
function rulesBroken(root: string): string[] {
  return checkLayers(root).filter((problem) => !problem.startsWith('import cycle'));
}

describe('rooms of src/policy, src/ops and src/algorithms', () => {
  it('import each other as pinned: the balancer reaches the mirror and streams through the call context only', () => {
    assert.deepEqual(roomGraph(SRC, 'policy'), [
      'policy/balancer -> policy/call',
      'policy/balancer -> policy/grpc',
      'policy/balancer -> policy/methods',
      'policy/call -> policy/balancer',
      'policy/call -> policy/grpc',
      'policy/call -> policy/streams',
      'policy/methods -> policy/balancer',
      'policy/mirror -> policy/call',
      'policy/mirror -> policy/grpc',
      'policy/streams -> policy/balancer',
      'policy/streams -> policy/call',
    ]);
    assert.deepEqual(roomGraph(SRC, 'ops'), [
      'ops -> ops/admin',
      'ops -> ops/rollout',
      'ops -> ops/telemetry',
      'ops/admin -> ops/rollout',
      'ops/admin -> ops/telemetry',
      'ops/telemetry -> ops/rollout',
    ]);
    assert.deepEqual(roomGraph(SRC, 'algorithms'), [
      'algorithms/judge -> algorithms',
      'algorithms/schedule -> algorithms',
      'algorithms/streams -> algorithms/schedule',
    ]);
  });

  it('fails when the balancer imports the mirror or streams', (t) => {
    const root = srcWith(t, 'policy/balancer/picker.ts', "import '../mirror/mirror-capture.js';");
    appendFileSync(join(root, 'policy/balancer/policy.ts'), "\nimport '../streams/stream-tracking.js';\n");
    const why = 'the balancer reaches the mirror and streams only through the call context (policy/call)';
    assert.deepEqual(rulesBroken(root), [
      `src/policy/balancer/picker.ts imports src/policy/mirror/mirror-capture.ts: ` +
        `policy/balancer may not import policy/mirror: ${why}`,
      `src/policy/balancer/policy.ts imports src/policy/streams/stream-tracking.ts: ` +
        `policy/balancer may not import policy/streams: ${why}`,
    ]);
  });

  it('fails when the grpc-js adapter imports another policy room', (t) => {
    const root = srcWith(t, 'policy/grpc/logging.ts', "import type { CallContext } from '../call/call-context.js';");
    appendFileSync(join(root, 'policy/grpc/channel-options.ts'), "\nimport '../balancer/config.js';\n");
    const why = 'the grpc-js adapter imports no other policy room';
    assert.deepEqual(rulesBroken(root), [
      `src/policy/grpc/channel-options.ts imports src/policy/balancer/config.ts: ` +
        `policy/grpc may not import policy/balancer: ${why}`,
      `src/policy/grpc/logging.ts imports src/policy/call/call-context.ts: ` +
        `policy/grpc may not import policy/call: ${why}`,
    ]);
  });

  it('fails when the call path imports the mirror (its stage is injected by the split)', (t) => {
    const root = srcWith(t, 'policy/call/call-pipeline.ts', "import '../mirror/mirror-interceptor.js';");
    assert.deepEqual(rulesBroken(root), [
      'src/policy/call/call-pipeline.ts imports src/policy/mirror/mirror-interceptor.ts: ' +
        'policy/call may not import policy/mirror: ' +
        'the mirror stage is injected by split/traffic-split.ts',
    ]);
  });

  it('fails when the mirror imports the balancer or streams, or streams the mirror', (t) => {
    const root = srcWith(t, 'policy/mirror/noise/mirror-noise.ts', "import '../../balancer/picker.js';");
    appendFileSync(join(root, 'policy/mirror/mirror.ts'), "\nimport '../streams/stream-setup.js';\n");
    appendFileSync(join(root, 'policy/streams/stream-setup.ts'), "\nimport '../mirror/mirror-options.js';\n");
    const why = 'the mirror sees a call through its context and stages';
    assert.deepEqual(rulesBroken(root), [
      `src/policy/mirror/mirror.ts imports src/policy/streams/stream-setup.ts: ` +
        `policy/mirror may not import policy/streams: ${why}`,
      `src/policy/mirror/noise/mirror-noise.ts imports src/policy/balancer/picker.ts: ` +
        `policy/mirror may not import policy/balancer: ${why}`,
      'src/policy/streams/stream-setup.ts imports src/policy/mirror/mirror-options.ts: ' +
        'policy/streams may not import policy/mirror: ' +
        'streams see a call through its context',
    ]);
  });

  it('fails when an operation or an algorithm imports a room above it', (t) => {
    const root = srcWith(t, 'ops/rollout/rollout.ts', "import '../telemetry/otel.js';");
    appendFileSync(join(root, 'ops/telemetry/otel.ts'), "\nimport '../admin/admin-server.js';\n");
    appendFileSync(join(root, 'algorithms/routing/rules.ts'), "\nimport '../schedule/scheduler.js';\n");
    appendFileSync(join(root, 'algorithms/random.ts'), "\nimport './streams/stream-book.js';\n");
    assert.deepEqual(rulesBroken(root), [
      'src/algorithms/random.ts imports src/algorithms/streams/stream-book.ts: ' +
        'algorithms may not import algorithms/streams: ' +
        'the shared small algorithms import no room',
      'src/algorithms/routing/rules.ts imports ' +
        'src/algorithms/schedule/scheduler.ts: algorithms/routing may not import ' +
        'algorithms/schedule: routing imports no other algorithm',
      'src/ops/rollout/rollout.ts imports src/ops/telemetry/otel.ts: ops/rollout may not import ops/telemetry: ' +
        'a rollout imports no other operation',
      'src/ops/telemetry/otel.ts imports src/ops/admin/admin-server.ts: ops/telemetry may not import ops/admin: ' +
        'telemetry reports a rollout, never drives one',
    ]);
  });

  it('reports a file of a layer split into rooms that sits in no known room', (t) => {
    const root = srcWith(t, 'base/errors.ts', '');
    writeFileSync(join(root, 'policy/loose.ts'), 'export const x = 1;\n');
    mkdirSync(join(root, 'policy/extra'));
    writeFileSync(join(root, 'policy/extra/more.ts'), 'export const y = 2;\n');
    const rooms = 'policy/balancer, policy/methods, policy/call, policy/streams, policy/mirror, policy/grpc';
    assert.deepEqual(checkLayers(root), [
      `src/policy/extra/more.ts: not in a room of policy (${rooms})`,
      `src/policy/loose.ts: not in a room of policy (${rooms})`,
    ]);
  });
});

describe('folder sizes of src/', () => {
  it(`hold: no folder holds more than ${MAX_FILES_PER_FOLDER} source files`, () => {
    assert.deepEqual(checkFolderSizes(SRC), []);
  });

  it('fail on a folder with a 13th file, not a 12th', (t) => {
    const root = srcWith(t, 'base/errors.ts', '');
    const base = join(root, 'base');
    for (let n = 0; readdirSync(base).length < MAX_FILES_PER_FOLDER; n += 1) {
      writeFileSync(join(base, `extra-${n}.ts`), '');
    }
    assert.deepEqual(checkFolderSizes(root), []);
    writeFileSync(join(base, 'one-more.ts'), '');
    assert.deepEqual(checkFolderSizes(root), ['src/base: 13 files (at most 12)']);
  });
});

/** Every `Symbol(...)` or `Symbol.for(...)` call in the .ts files under `root`, as `path: call`. */
function symbolsIn(root: string, dir = root): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...symbolsIn(root, path));
    else if (name.endsWith('.ts')) {
      for (const match of readFileSync(path, 'utf8').matchAll(/Symbol(?:\.for)?\([^)]*\)/g)) {
        found.push(`${relative(root, path).split('\\').join('/')}: ${match[0]}`);
      }
    }
  }
  return found;
}

describe('per-call slots', () => {
  it('are one symbol, CALL_SLOT; the only other symbol is a sentinel of the field diff', () => {
    assert.deepEqual(symbolsIn(SRC), [
      "algorithms/field-diff.ts: Symbol('unreadable')",
      "policy/call/call-context.ts: Symbol('grpc-traffic-split.call')",
    ]);
  });

  it('a second slot shows up, as Symbol() or Symbol.for()', (t) => {
    const root = srcWith(t, 'policy/streams/stream-tracking.ts', "export const STREAM_RECORD = Symbol('stream');");
    appendFileSync(join(root, 'policy/call/route-options.ts'), "\nexport const ROUTE_OPTION = Symbol.for('route');\n");
    assert.deepEqual(symbolsIn(root), [
      "algorithms/field-diff.ts: Symbol('unreadable')",
      "policy/call/call-context.ts: Symbol('grpc-traffic-split.call')",
      "policy/call/route-options.ts: Symbol.for('route')",
      "policy/streams/stream-tracking.ts: Symbol('stream')",
    ]);
  });
});

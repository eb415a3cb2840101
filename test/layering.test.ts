/**
 * The source's layers import one way and form no cycle (see test/helpers/layering.ts), and the
 * check does fail when an import runs against them.
 */
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkLayers, layerGraph } from './helpers/layering.js';

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
    assert.deepEqual(checkLayers(root), ['src/split/traffic-split.ts imports src/ops/rollout/rollout.ts: split may not import ops']);
  });

  it('fails when an operation reaches past the ops port, or the core entry loads ops', (t) => {
    const root = srcWith(t, 'ops/rollout/rollout.ts', "import '../../policy/balancer/split-state.js';");
    appendFileSync(join(root, 'index.ts'), "\nexport { startRollout } from './ops/rollout/rollout.js';\n");
    assert.deepEqual(checkLayers(root), [
      'src/index.ts imports src/ops/rollout/rollout.ts: the core entry point may not import ops',
      'src/ops/rollout/rollout.ts imports src/policy/balancer/split-state.ts: ops reaches policy only through src/split/ops-port.ts',
    ]);
  });

  it('fails when the fleet reaches past its ports, or the core entry or the operations load the fleet', (t) => {
    const root = srcWith(t, 'fleet/fleet.ts', "import '../policy/balancer/split-state.js';");
    appendFileSync(join(root, 'fleet/state/state.ts'), "\nimport '../../split/traffic-split.js';\n");
    appendFileSync(join(root, 'index.ts'), "\nexport { joinFleet } from './fleet/join.js';\n");
    appendFileSync(join(root, 'ops/rollout/rollout.ts'), "\nimport type { Fleet } from '../../fleet/fleet.js';\n");
    assert.deepEqual(checkLayers(root).filter((problem) => !problem.startsWith('import cycle')), [
      'src/fleet/fleet.ts imports src/policy/balancer/split-state.ts: fleet reaches policy only through src/split/ops-port.ts or src/split/fleet-port.ts',
      'src/fleet/state/state.ts imports src/split/traffic-split.ts: fleet reaches split only through src/split/ops-port.ts or src/split/fleet-port.ts',
      'src/index.ts imports src/fleet/join.ts: the core entry point may not import fleet',
      'src/ops/rollout/rollout.ts imports src/fleet/fleet.ts: ops may not import fleet',
    ]);
  });

  it('fails when pure code imports grpc-js, or another file its internals', (t) => {
    const root = srcWith(t, 'algorithms/routing/sticky-hash.ts', "import '@grpc/grpc-js';");
    appendFileSync(join(root, 'policy/balancer/picker.ts'), "\nimport '@grpc/grpc-js/build/src/picker.js';\n");
    assert.deepEqual(checkLayers(root), [
      'src/algorithms/routing/sticky-hash.ts imports @grpc/grpc-js: algorithms may not import grpc-js',
      "src/policy/balancer/picker.ts imports @grpc/grpc-js/build/src/picker.js: only src/policy/grpc/grpc.ts imports grpc-js's internal files",
    ]);
  });

  it('sees every form of import: type-only, export *, dynamic import(), require(), import types, detours', (t) => {
    const root = srcWith(t, 'algorithms/routing/sticky-hash.ts', "import type { SplitState } from '../../policy/balancer/split-state.js';");
    appendFileSync(join(root, 'algorithms/schedule/scheduler.ts'), "\nexport * from '../../policy/balancer/picker.js';\n");
    appendFileSync(join(root, 'algorithms/random.ts'), "\nexport const later = () => import('../policy/call/hints.js');\n");
    appendFileSync(join(root, 'base/clock.ts'), "\nimport grpcAdapter = require('../policy/grpc/grpc.js');\nvoid grpcAdapter;\n");
    appendFileSync(join(root, 'policy/balancer/picker.ts'), "\nexport type Rollout = import('../../ops/rollout/rollout.js').Rollout;\n");
    appendFileSync(join(root, 'split/handle.ts'), "\nimport '../split/../ops/rollout/rollout.js';\n");
    appendFileSync(join(root, 'policy/call/hints.ts'), "\ndeclare module '../../split/types.js' { interface SplitStats { extra?: number } }\n");
    // (These reversed imports also close cycles, reported after the rules; not the point here.)
    assert.deepEqual(checkLayers(root).filter((problem) => !problem.startsWith('import cycle')), [
      'src/algorithms/random.ts imports src/policy/call/hints.ts: algorithms may not import policy',
      'src/algorithms/routing/sticky-hash.ts imports src/policy/balancer/split-state.ts: algorithms may not import policy',
      'src/algorithms/schedule/scheduler.ts imports src/policy/balancer/picker.ts: algorithms may not import policy',
      'src/base/clock.ts imports src/policy/grpc/grpc.ts: base may not import policy',
      'src/policy/balancer/picker.ts imports src/ops/rollout/rollout.ts: policy may not import ops',
      'src/policy/call/hints.ts imports src/split/types.ts: policy may not import split',
      'src/split/handle.ts imports src/ops/rollout/rollout.ts: split may not import ops',
    ]);
  });

  it('fails on imports that leave the relative paths: the package by its own name, an absolute path', (t) => {
    const root = srcWith(t, 'split/traffic-split.ts', "import type { Rollout } from 'grpc-traffic-split/ops';");
    appendFileSync(join(root, 'policy/balancer/picker.ts'), `\nimport '${join(root, 'ops/rollout/rollout.js')}';\n`);
    assert.deepEqual(checkLayers(root), [
      `src/policy/balancer/picker.ts imports ${join(root, 'ops/rollout/rollout.js')}: src imports its own files by relative path only`,
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
    assert.deepEqual(checkLayers(root), ['import cycle: src/base/errors.ts -> src/base/validate.ts -> src/base/errors.ts']);
  });
});

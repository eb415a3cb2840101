/**
 * The source's layers import one way and form no cycle (see test/helpers/layering.ts), and the
 * check does fail when an import runs against them.
 */
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
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
    const root = srcWith(t, 'algorithms/scheduler.ts', "import '../policy/grpc.js';");
    assert.deepEqual(checkLayers(root), [
      'src/algorithms/scheduler.ts imports src/policy/grpc.ts: algorithms may not import policy',
    ]);
  });

  it('fails when the handle imports the operations (the old split -> rollout edge)', (t) => {
    const root = srcWith(t, 'split/traffic-split.ts', "export { startRollout } from '../ops/rollout.js';");
    assert.deepEqual(checkLayers(root), ['src/split/traffic-split.ts imports src/ops/rollout.ts: split may not import ops']);
  });

  it('fails when an operation reaches past the ops port, or the core entry loads ops', (t) => {
    const root = srcWith(t, 'ops/rollout.ts', "import '../policy/split-state.js';");
    appendFileSync(join(root, 'index.ts'), "\nexport { startRollout } from './ops/rollout.js';\n");
    assert.deepEqual(checkLayers(root), [
      'src/index.ts imports src/ops/rollout.ts: the core entry point may not import ops',
      'src/ops/rollout.ts imports src/policy/split-state.ts: ops reaches policy only through src/split/ops-port.ts',
    ]);
  });

  it('fails when pure code imports grpc-js, or another file its internals', (t) => {
    const root = srcWith(t, 'algorithms/sticky-hash.ts', "import '@grpc/grpc-js';");
    appendFileSync(join(root, 'policy/picker.ts'), "\nimport '@grpc/grpc-js/build/src/picker.js';\n");
    assert.deepEqual(checkLayers(root), [
      'src/algorithms/sticky-hash.ts imports @grpc/grpc-js: algorithms may not import grpc-js',
      "src/policy/picker.ts imports @grpc/grpc-js/build/src/picker.js: only src/policy/grpc.ts imports grpc-js's internal files",
    ]);
  });

  it('fails on an import cycle, naming every file in it', (t) => {
    const root = srcWith(t, 'base/errors.ts', "import './validate.js';");
    assert.deepEqual(checkLayers(root), ['import cycle: src/base/errors.ts -> src/base/validate.ts -> src/base/errors.ts']);
  });
});

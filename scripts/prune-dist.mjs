#!/usr/bin/env node
// Removes build outputs whose source is gone (a test renamed or deleted since the last build),
// before an incremental `tsc` writes over the rest: tsc never deletes, and `node --test` would
// still run a stale dist/test/*.test.js. Usage: node scripts/prune-dist.mjs
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Each output folder and the source folder tsc compiles into it.
const OUTPUTS = [
  ['dist/cjs', 'src'],
  ['dist/src', 'src'],
  ['dist/test', 'test'],
  ['dist/examples', 'examples'],
  ['dist/benchmarks', 'benchmarks'],
];
// Output suffix -> the source suffixes it can come from.
const SOURCES = [
  [/\.d\.ts(\.map)?$/, ['.ts', '.tsx']],
  [/\.js(\.map)?$/, ['.ts', '.tsx']],
  [/\.d\.mts(\.map)?$/, ['.mts']],
  [/\.mjs(\.map)?$/, ['.mts']],
  [/\.d\.cts(\.map)?$/, ['.cts']],
  [/\.cjs(\.map)?$/, ['.cts']],
];

let pruned = 0;
function prune(output, source) {
  if (!existsSync(output)) return;
  for (const name of readdirSync(output)) {
    const path = join(output, name);
    if (statSync(path).isDirectory()) {
      prune(path, join(source, name));
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    const kind = SOURCES.find(([pattern]) => pattern.test(name));
    if (kind === undefined) continue; // Not a compiled file (dist/cjs/package.json).
    const stem = name.replace(kind[0], '');
    if (kind[1].some((extension) => existsSync(join(source, stem + extension)))) continue;
    rmSync(path);
    pruned++;
  }
}
for (const [output, source] of OUTPUTS) prune(output, source);
if (pruned > 0) console.log(`prune-dist: removed ${pruned} outputs whose source is gone`);

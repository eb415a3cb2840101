#!/usr/bin/env node
// Writes src/policy/grpc/grpc-range.generated.ts from package.json's
// peerDependencies['@grpc/grpc-js'], the one place the supported grpc-js range is written. Every
// build script runs it before compiling; the file is not in git. It is rewritten only when its
// text changes, so that an incremental build does not recompile what imports it.
// Paths are relative to this script, so a test can run a copy of it against another package.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const manifest = fileURLToPath(new URL('../package.json', import.meta.url));
const target = fileURLToPath(new URL('../src/policy/grpc/grpc-range.generated.ts', import.meta.url));
const range = JSON.parse(readFileSync(manifest, 'utf8')).peerDependencies?.['@grpc/grpc-js'];
if (typeof range !== 'string') {
  console.error(
    `${manifest}: peerDependencies["@grpc/grpc-js"] is ${JSON.stringify(range)}: expected a version range`,
  );
  process.exit(1);
}
const text =
  "// Written from package.json's peerDependencies['@grpc/grpc-js'] by scripts/write-grpc-range.mjs.\n" +
  `export const GRPC_JS_PEER_RANGE = ${JSON.stringify(range)};\n`;
let current = null;
try {
  current = readFileSync(target, 'utf8');
} catch {
  // Not written yet.
}
if (current !== text) {
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
}

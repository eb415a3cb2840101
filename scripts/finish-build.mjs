// Completes the package build after `tsc -p tsconfig.cjs.json` has written dist/cjs:
// - dist/cjs/package.json marks that folder CommonJS (the package itself is "type": "module");
// - dist/esm is a thin ES module entry over the CommonJS build, so that `import` and `require`
//   reach the same module instances: one registry of live splits, one registration into
//   grpc-js, one set of error classes, whichever entry an application (or its dependencies)
//   loads first. Node's static analysis of the CommonJS exports gives the named imports.
import { mkdirSync, writeFileSync } from 'node:fs';

const banner = '// The ES module entry: the CommonJS build re-exported (see scripts/finish-build.mjs).\n';
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
// One wrapper per entry point: the core (`grpc-traffic-split`), the operations
// (`grpc-traffic-split/ops`) and the fleet (`grpc-traffic-split/fleet`).
for (const entry of ['index', 'ops/index', 'fleet/index']) {
  const up = entry.includes('/') ? '../../' : '../';
  mkdirSync(`dist/esm/${entry.includes('/') ? entry.slice(0, entry.lastIndexOf('/')) : ''}`, { recursive: true });
  writeFileSync(`dist/esm/${entry}.js`, `${banner}export * from '${up}cjs/${entry}.js';\n`);
  writeFileSync(`dist/esm/${entry}.d.ts`, `${banner}export * from '${up}cjs/${entry}.js';\n`);
}

/**
 * The layering rules of src/, checked from the import statements of every source file:
 *
 *   base (errors, validators, clock)  <  algorithms (no gRPC)  <  policy (grpc-js integration)
 *     <  split (the public handle)  <  ops (rollout, admin, weights file, metrics, telemetry)
 *     <  fleet (one split's weights and rollout shared by every replica, on etcd)
 *
 * A file imports its own layer or lower ones. The operations reach the layers below through
 * src/split/ops-port.ts only, besides base and algorithms; the fleet through ops, base,
 * algorithms and the two ports (src/split/ops-port.ts, src/split/fleet-port.ts). base and algorithms never import
 * grpc-js; only src/policy/grpc/grpc.ts reaches into grpc-js's files. No import cycle between files.
 * Every file sits in a layer folder (src/index.ts aside) and reaches the others by relative path:
 * an import by the package's own name or by an absolute path would bypass these rules.
 *
 * Inside policy, ops and algorithms, each folder is a room ({@link ROOMS}) that imports only the
 * rooms it lists. No folder of src/ holds more than {@link MAX_FILES_PER_FOLDER} files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const LAYERS = ['base', 'algorithms', 'policy', 'split', 'ops', 'fleet'] as const;
type Layer = (typeof LAYERS)[number] | 'entry';

/** Files of lower layers the operations may import, besides base and algorithms. */
const OPS_PORT = 'split/ops-port.ts';
/** Files of the split layer the fleet may import (it reaches policy through them only). */
const FLEET_PORTS: readonly string[] = [OPS_PORT, 'split/fleet-port.ts'];
/** The one file that may import grpc-js's internal files. */
const GRPC_ADAPTER = 'policy/grpc/grpc.ts';
/** The package's own name: `grpc-traffic-split/ops` from src/ would reach ops past the rules. */
const PACKAGE_NAME = 'grpc-traffic-split';
/** The extensions TypeScript compiles, and the one an import names for each. */
const SOURCE_EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ['.ts', '.js'],
  ['.tsx', '.js'],
  ['.mts', '.mjs'],
  ['.cts', '.cjs'],
]);

/**
 * The rooms of the layers split by role, and the other rooms of the same layer each may import.
 * A room is a layer's first-level folder (its subfolders belong to it: policy/mirror/noise is
 * the mirror's); the layer's own name is the room of the files directly in it.
 */
const ROOMS: ReadonlyMap<string, { readonly imports: readonly string[]; readonly why: string }> = new Map([
  [
    'policy/balancer',
    {
      imports: ['policy/call', 'policy/grpc', 'policy/methods'],
      why: 'the balancer reaches the mirror and streams only through the call context (policy/call)',
    },
  ],
  [
    'policy/methods',
    { imports: ['policy/balancer'], why: 'method weights are validated as the split weights are (balancer/config)' },
  ],
  [
    'policy/call',
    {
      imports: ['policy/balancer', 'policy/grpc', 'policy/streams'],
      why: 'the mirror stage is injected by split/traffic-split.ts',
    },
  ],
  ['policy/streams', { imports: ['policy/balancer', 'policy/call'], why: 'streams see a call through its context' }],
  [
    'policy/mirror',
    { imports: ['policy/call', 'policy/grpc'], why: 'the mirror sees a call through its context and stages' },
  ],
  ['policy/grpc', { imports: [], why: 'the grpc-js adapter imports no other policy room' }],
  ['ops', { imports: ['ops/admin', 'ops/rollout', 'ops/telemetry'], why: 'the entry point' }],
  ['ops/admin', { imports: ['ops/rollout', 'ops/telemetry'], why: 'the admin endpoint serves the others' }],
  ['ops/telemetry', { imports: ['ops/rollout'], why: 'telemetry reports a rollout, never drives one' }],
  ['ops/rollout', { imports: [], why: 'a rollout imports no other operation' }],
  ['algorithms', { imports: [], why: 'the shared small algorithms import no room' }],
  ['algorithms/judge', { imports: ['algorithms'], why: 'the judge builds on the shared statistics only' }],
  ['algorithms/routing', { imports: [], why: 'routing imports no other algorithm' }],
  ['algorithms/schedule', { imports: ['algorithms'], why: 'the schedule builds on the shared algorithms only' }],
  [
    'algorithms/streams',
    { imports: ['algorithms', 'algorithms/schedule'], why: 'stream placement builds on the schedule' },
  ],
]);
/** The layers split into rooms. */
const ROOM_LAYERS: readonly string[] = ['policy', 'ops', 'algorithms'];
/** The most source files one folder of src/ holds (files directly in it, subfolders apart). */
export const MAX_FILES_PER_FOLDER = 12;

/** The room of a src-relative file in a layer split into rooms, or null for another layer. */
function roomOf(file: string): string | null {
  const parts = file.split('/');
  if (parts.length < 2 || !ROOM_LAYERS.includes(parts[0]!)) return null;
  return parts.length === 2 ? parts[0]! : `${parts[0]}/${parts[1]}`;
}

/** The room rule an import between two files of the same layer breaks, or null. */
function roomViolation(from: string, to: string): string | null {
  const a = roomOf(from);
  const b = roomOf(to);
  if (a === null || b === null || a === b || layerOf(from) !== layerOf(to)) return null;
  const rule = ROOMS.get(a);
  if (rule === undefined || rule.imports.includes(b)) return null;
  return `${a} may not import ${b}: ${rule.why}`;
}

/** Files of a layer split into rooms that sit in no known room, as sentences. */
function roomlessFiles(files: readonly string[]): string[] {
  return files
    .filter((file) => roomOf(file) !== null && !ROOMS.has(roomOf(file)!))
    .map((file) => {
      const layer = file.split('/')[0]!;
      const rooms = [...ROOMS.keys()].filter((room) => room.startsWith(`${layer}/`));
      return `src/${file}: not in a room of ${layer} (${rooms.join(', ')})`;
    });
}

/** Folders of src/ holding more than {@link MAX_FILES_PER_FOLDER} source files directly, as sentences. */
export function checkFolderSizes(root: string): string[] {
  const counts = new Map<string, number>();
  for (const file of sourceFiles(root)) {
    const folder = file.includes('/') ? `src/${file.slice(0, file.lastIndexOf('/'))}` : 'src';
    counts.set(folder, (counts.get(folder) ?? 0) + 1);
  }
  return [...counts]
    .filter(([, count]) => count > MAX_FILES_PER_FOLDER)
    .map(([folder, count]) => `${folder}: ${count} files (at most ${MAX_FILES_PER_FOLDER})`);
}

/** The layer of a src-relative file, or null for a file outside the layer folders. */
function layerOf(file: string): Layer | null {
  if (file === 'index.ts') return 'entry';
  const top = file.split('/')[0]!;
  return (LAYERS as readonly string[]).includes(top) && file.includes('/') ? (top as Layer) : null;
}

function sourceExtensionOf(name: string): string | undefined {
  if (name.endsWith('.d.ts') || name.endsWith('.d.mts') || name.endsWith('.d.cts')) return undefined;
  return [...SOURCE_EXTENSIONS.keys()].find((extension) => name.endsWith(extension));
}

function sourceFiles(root: string, dir = root): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(root, path));
    else if (sourceExtensionOf(name) !== undefined) files.push(relative(root, path).split('\\').join('/'));
  }
  return files;
}

/** Every module specifier a file imports, re-exports or augments (`declare module '...'`),
 * type-only, dynamic and `require()` imports included. */
function importsOf(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return [...info.importedFiles.map((each) => each.fileName), ...(info.ambientExternalModules ?? [])];
}

/** The source file (src-relative) a relative import of `from` names, or the path as written. */
function targetOf(root: string, from: string, specifier: string, known: ReadonlySet<string>): string {
  const path = relative(root, resolve(root, dirname(from), specifier))
    .split('\\')
    .join('/');
  for (const [source, emitted] of SOURCE_EXTENSIONS) {
    if (path.endsWith(emitted) && known.has(path.slice(0, -emitted.length) + source))
      return path.slice(0, -emitted.length) + source;
  }
  return path;
}

/** The rule a file's import breaks, or null. `to` is a src-relative .ts path. */
function internalViolation(from: string, to: string): string | null {
  const a = layerOf(from)!;
  const b = layerOf(to);
  if (b === null) return `src/${to} is not in a layer folder`;
  if (b === 'entry') return `${a} may not import the entry point`;
  if (a === 'entry') return b === 'ops' || b === 'fleet' ? `the core entry point may not import ${b}` : null;
  const rank = (layer: Layer): number => LAYERS.indexOf(layer as (typeof LAYERS)[number]);
  if (rank(b) > rank(a)) return `${a} may not import ${b}`;
  if (a === 'ops' && b !== 'ops' && b !== 'base' && b !== 'algorithms' && to !== OPS_PORT) {
    return `ops reaches ${b} only through src/${OPS_PORT}`;
  }
  if (
    a === 'fleet' &&
    b !== 'fleet' &&
    b !== 'ops' &&
    b !== 'base' &&
    b !== 'algorithms' &&
    !FLEET_PORTS.includes(to)
  ) {
    return `fleet reaches ${b} only through ${FLEET_PORTS.map((port) => `src/${port}`).join(' or ')}`;
  }
  return null;
}

function externalViolation(from: string, specifier: string): string | null {
  const layer = layerOf(from)!;
  if (
    specifier === PACKAGE_NAME ||
    specifier.startsWith(`${PACKAGE_NAME}/`) ||
    isAbsolute(specifier) ||
    specifier.startsWith('file:')
  ) {
    return 'src imports its own files by relative path only';
  }
  const grpc = specifier === '@grpc/grpc-js' || specifier.startsWith('@grpc/grpc-js/');
  if (grpc && (layer === 'base' || layer === 'algorithms')) return `${layer} may not import grpc-js`;
  if (specifier.startsWith('@grpc/grpc-js/') && from !== GRPC_ADAPTER)
    return `only src/${GRPC_ADAPTER} imports grpc-js's internal files`;
  return null;
}

/** Violations of the layering rules in the source tree at `root` (src/), as sentences. */
export function checkLayers(root: string): string[] {
  const files = sourceFiles(root);
  const known = new Set(files);
  const problems: string[] = [];
  const edges = new Map<string, string[]>();
  for (const from of files) {
    if (layerOf(from) === null) {
      problems.push(`src/${from}: not in a layer folder (${LAYERS.join(', ')})`);
      continue;
    }
    const targets: string[] = [];
    for (const specifier of importsOf(readFileSync(join(root, from), 'utf8'))) {
      if (!specifier.startsWith('.')) {
        const problem = externalViolation(from, specifier);
        if (problem !== null) problems.push(`src/${from} imports ${specifier}: ${problem}`);
        continue;
      }
      const to = targetOf(root, from, specifier, known);
      if (!known.has(to)) {
        problems.push(`src/${from} imports ${specifier}: no such source file`);
        continue;
      }
      targets.push(to);
      const problem = internalViolation(from, to) ?? roomViolation(from, to);
      if (problem !== null) problems.push(`src/${from} imports src/${to}: ${problem}`);
    }
    edges.set(from, targets);
  }
  return [...problems, ...roomlessFiles(files), ...findCycles(edges)];
}

/** One sentence per import cycle found by a depth-first search (each cycle reported once). */
function findCycles(edges: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'active' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'active');
    path.push(file);
    for (const next of edges.get(file) ?? []) {
      const seen = state.get(next);
      if (seen === 'active') {
        const cycle = [...path.slice(path.indexOf(next)), next];
        cycles.push(`import cycle: ${cycle.map((each) => `src/${each}`).join(' -> ')}`);
      } else if (seen === undefined) {
        visit(next);
      }
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

/** Every relative import of the source tree at `root`, as `[from, to]` src-relative files. */
function relativeImports(root: string): [from: string, to: string][] {
  const files = sourceFiles(root);
  const known = new Set(files);
  const imports: [string, string][] = [];
  for (const from of files) {
    for (const specifier of importsOf(readFileSync(join(root, from), 'utf8'))) {
      if (specifier.startsWith('.')) imports.push([from, targetOf(root, from, specifier, known)]);
    }
  }
  return imports;
}

/** The import graph between layers (for the docs): `from -> to` pairs that occur. */
export function layerGraph(root: string): string[] {
  const pairs = new Set<string>();
  for (const [from, to] of relativeImports(root)) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (a === b) continue;
    const port = b === 'split' && a === 'ops' ? ' (ops-port)' : b === 'split' && a === 'fleet' ? ' (ports)' : '';
    pairs.add(`${a} -> ${b}${port}`);
  }
  return [...pairs].sort();
}

/** The import graph between the rooms of one layer (for the docs): `from -> to` pairs that occur. */
export function roomGraph(root: string, layer: string): string[] {
  const pairs = new Set<string>();
  for (const [from, to] of relativeImports(root)) {
    const a = roomOf(from);
    const b = roomOf(to);
    if (a === null || b === null || a === b) continue;
    if (layerOf(from) === layer && layerOf(to) === layer) pairs.add(`${a} -> ${b}`);
  }
  return [...pairs].sort();
}

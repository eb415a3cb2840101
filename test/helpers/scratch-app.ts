/**
 * A scratch application folder that runs this project's compiled code (dist/) against a chosen
 * set of packages: a given @grpc/grpc-js, or none of some package. Module resolution from the
 * copied dist/ finds the scratch folder's node_modules first, so '@grpc/grpc-js' there is the one
 * the copied code, its tests and its helpers all load. Every other package is linked in from the
 * node_modules folder this code resolves @grpc/grpc-js from, except what `omit` names.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project this code was compiled in (this file is dist/test/helpers/scratch-app.js). */
const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The @grpc/grpc-js this code runs on (its real folder). */
const GRPC_JS_DIRECTORY = dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js/package.json'));

/** The node_modules folder this project's packages come from: the nearest one above it. */
function projectNodeModules(): string {
  for (let directory = PROJECT_ROOT; ; directory = dirname(directory)) {
    const candidate = join(directory, 'node_modules');
    if (existsSync(candidate)) return candidate;
    if (dirname(directory) === directory) throw new Error(`no node_modules above ${PROJECT_ROOT}`);
  }
}

export interface ScratchAppOptions {
  /** Packages (`name` or `@scope/name`, or a whole `@scope`) not to link. */
  omit?: readonly string[];
  /** The @grpc/grpc-js folder to link. @default the one this code runs on */
  grpcJs?: string;
}

/**
 * Makes `<root>/app` hold a copy of dist/ and a package.json of type module (with the project's
 * peerDependencies), and links into `<root>/node_modules` every package of the project's
 * node_modules that is not there yet and not omitted, with @grpc/grpc-js taken from
 * `options.grpcJs`. Links resolve to real paths, so a linked package finds its own dependencies
 * where it really is. Returns the app folder.
 */
export function prepareScratchApp(root: string, options: ScratchAppOptions = {}): string {
  const app = join(root, 'app');
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  cpSync(join(PROJECT_ROOT, 'dist'), join(app, 'dist'), { recursive: true });
  // The repository's peerDependencies come along: the copied tests read the supported grpc-js range there.
  const project = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { peerDependencies: object };
  const peerDependencies = project.peerDependencies;
  const manifest = { name: 'scratch-app', private: true, type: 'module', peerDependencies };
  writeFileSync(join(app, 'package.json'), JSON.stringify(manifest));
  const omit = new Set(options.omit ?? []);
  if (!omit.has('@grpc/grpc-js') && !omit.has('@grpc'))
    link(options.grpcJs ?? GRPC_JS_DIRECTORY, join(root, 'node_modules', '@grpc', 'grpc-js'));
  linkPackages(projectNodeModules(), join(root, 'node_modules'), new Set([...omit, '@grpc/grpc-js']));
  return app;
}

function linkPackages(from: string, to: string, omit: ReadonlySet<string>): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const inner of readdirSync(join(from, entry))) {
        const name = `${entry}/${inner}`;
        if (!omit.has(name) && !omit.has(entry)) link(join(from, entry, inner), join(to, entry, inner));
      }
    } else if (!omit.has(entry)) {
      link(join(from, entry), join(to, entry));
    }
  }
}

function link(target: string, path: string): void {
  try {
    lstatSync(path);
    return; // Already there (installed, or linked by an earlier run).
  } catch {
    // Not there: link it.
  }
  mkdirSync(join(path, '..'), { recursive: true });
  symlinkSync(target, path, 'dir');
}

/**
 * Copies the @grpc/grpc-js this code runs on into `<root>/node_modules` with its package.json
 * saying `version`: the same code under another version number.
 */
export function installGrpcJsCopy(root: string, version: string): string {
  const source = GRPC_JS_DIRECTORY;
  const directory = join(root, 'node_modules', '@grpc', 'grpc-js');
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  cpSync(join(source, 'build'), join(directory, 'build'), { recursive: true });
  cpSync(join(source, 'proto'), join(directory, 'proto'), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(directory, 'package.json'), JSON.stringify({ ...manifest, version }, null, 2));
  return directory;
}

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an ES module script (its source text) with `cwd` as working folder; killed after
 * `timeoutMs` (a hang guard only). */
export async function runModule(cwd: string, source: string, timeoutMs = 60_000): Promise<ScriptResult> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  return { code, stdout, stderr };
}

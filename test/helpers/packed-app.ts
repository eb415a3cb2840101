/**
 * An application that installs this package as users do: `npm pack` of the built package (the
 * suite has just built dist/; packing does not rebuild it), then `npm install` of the tarball
 * into a scratch application, offline. The application's own packages (its @grpc/grpc-js, and
 * whatever else a test names) are links to this repository's copies. Pack once per test file:
 * packing and installing take a few seconds.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (this file is dist/test/helpers/packed-app.js). */
export const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));

/** A hang guard only: each step normally takes seconds. */
const STEP_TIMEOUT_MS = 120_000;

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (or the hang guard); never rejects. */
export function runCommand(command: string, args: readonly string[], cwd: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface PackedApp {
  /** The scratch folder (removed by `dispose()`). */
  readonly root: string;
  /** The application folder: package.json of type module, node_modules with the package. */
  readonly app: string;
  /** Where the package was installed (`<app>/node_modules/grpc-traffic-split`). */
  readonly installed: string;
  /** The files of the tarball, as `npm pack` lists them, sorted. */
  readonly files: readonly string[];
  /** Links a package of the repository's node_modules into the application's. */
  link(name: string): void;
  dispose(): void;
}

/**
 * Packs the package and installs the tarball into a fresh application that also has
 * `links` (default: `@grpc/grpc-js`) linked from the repository's node_modules. The application
 * is a copy of `template` when given, else a bare package.json of type module.
 * @throws when packing or installing fails, with npm's output.
 */
export async function installPackedApp(
  prefix: string,
  links: readonly string[] = ['@grpc/grpc-js'],
  template?: string,
): Promise<PackedApp> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  try {
    const pack = await runCommand(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', root],
      REPOSITORY,
    );
    if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
    const [info] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
    const app = join(root, 'app');
    if (template !== undefined) cpSync(template, app, { recursive: true });
    else {
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'packed-app', private: true, type: 'module' }));
    }
    const install = await runCommand(
      'npm',
      [
        'install',
        '--offline',
        '--legacy-peer-deps',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        join(root, info.filename),
      ],
      app,
    );
    if (install.code !== 0)
      throw new Error(`npm install of the tarball failed:\n${install.stdout}\n${install.stderr}`);
    const link = (name: string): void => {
      const path = join(app, 'node_modules', name);
      mkdirSync(dirname(path), { recursive: true });
      symlinkSync(join(REPOSITORY, 'node_modules', name), path, 'dir');
    };
    for (const name of links) link(name);
    return {
      root,
      app,
      installed: join(app, 'node_modules', 'grpc-traffic-split'),
      files: info.files.map((file) => file.path).sort(),
      link,
      dispose: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** The object a script printed on its `RESULT <json>` line. */
export function resultLine(result: CommandResult, what: string): Record<string, unknown> {
  const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined)
    throw new Error(`${what} printed no RESULT line (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>;
}

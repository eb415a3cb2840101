/**
 * Which grpc-js the package runs against, and whether it is one it supports. The version is read
 * from the package.json of the very grpc-js instance we import (found through the CommonJS
 * module cache, which holds grpc-js however the application loaded it), so a second copy of
 * grpc-js elsewhere in `node_modules` cannot mislead the check.
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TrafficSplitUnsupportedGrpcError } from '../../base/errors.js';

/** The grpc-js versions this package is tested with: the latest patch of each minor. */
export const SUPPORTED_GRPC_JS_RANGE = '>=1.10.0 <1.15.0';
const SUPPORTED_MINORS = { first: 10, last: 14 };

/** Where a grpc-js instance lives and which version it says it is. */
export interface GrpcJsPackage {
  readonly version: string;
  readonly directory: string;
}

/**
 * The package of the grpc-js whose `experimental` export is `experimental`, or null when it cannot
 * be told (a bundler that has no module cache). Never throws.
 */
export function grpcJsPackageOf(experimental: object): GrpcJsPackage | null {
  try {
    const cache = createRequire(join(process.cwd(), 'index.js')).cache;
    for (const loaded of Object.values(cache)) {
      const exported: unknown = loaded?.exports;
      if (exported !== experimental && (exported as { experimental?: unknown } | null)?.experimental !== experimental) continue;
      const found = grpcJsPackageOfFile(loaded!.filename);
      if (found !== null) return found;
    }
  } catch {
    // No module cache to read: the feature check alone decides.
  }
  return null;
}

/** The grpc-js package a file of it belongs to: the nearest enclosing package.json named `@grpc/grpc-js`. */
export function grpcJsPackageOfFile(file: string): GrpcJsPackage | null {
  let directory = dirname(file);
  for (let depth = 0; depth < 6; depth++) {
    try {
      const json = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (json.name === '@grpc/grpc-js' && typeof json.version === 'string') return { version: json.version, directory };
    } catch {
      // No package.json at this level: keep climbing.
    }
    const parent = dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  return null;
}

/** Whether `version` (x.y.z, prerelease allowed) is within SUPPORTED_GRPC_JS_RANGE. */
export function isSupportedGrpcJsVersion(version: string): boolean {
  const match = /^(\d+)\.(\d+)\.\d+/.exec(version);
  if (match === null) return false;
  const minor = Number(match[2]);
  return match[1] === '1' && minor >= SUPPORTED_MINORS.first && minor <= SUPPORTED_MINORS.last;
}

/**
 * Throws a TrafficSplitUnsupportedGrpcError when the installed grpc-js is outside the supported
 * range, or lacks an extension point the policy needs (`missing`, names in `experimental`).
 * A grpc-js whose version cannot be read passes on features alone.
 */
export function assertSupportedGrpcJs(installed: GrpcJsPackage | null, missing: readonly string[]): void {
  const versionOk = installed === null || isSupportedGrpcJsVersion(installed.version);
  if (versionOk && missing.length === 0) return;
  const which = installed === null ? '@grpc/grpc-js (version unknown)' : `@grpc/grpc-js ${installed.version} (${installed.directory})`;
  const lacking = missing.length === 0 ? '' : `; it lacks experimental.${missing.join(', experimental.')}`;
  throw new TrafficSplitUnsupportedGrpcError(
    `${which} is not supported by grpc-traffic-split${lacking}: supported versions are ${SUPPORTED_GRPC_JS_RANGE} ` +
      `(1.${SUPPORTED_MINORS.first} to 1.${SUPPORTED_MINORS.last}); install one of them in the application`,
    installed?.version ?? null,
  );
}

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
// Written by scripts/write-grpc-range.mjs (run by every build script) from package.json: not in git.
import { GRPC_JS_PEER_RANGE } from './grpc-range.generated.js';

/**
 * The grpc-js versions this package supports and is tested with (the latest patch of each minor):
 * package.json's `peerDependencies['@grpc/grpc-js']`, copied at build time.
 */
export const SUPPORTED_GRPC_JS_RANGE: string = GRPC_JS_PEER_RANGE;

/** A range of the one form package.json may give: `>=M.a.p <M.b.0`, minors `a` to `b - 1` of major `M`. */
export interface GrpcJsRange {
  readonly major: number;
  readonly firstMinor: number;
  readonly firstPatch: number;
  readonly lastMinor: number;
}

const RANGE_FORM = /^>=(\d+)\.(\d+)\.(\d+) <(\d+)\.(\d+)\.0$/;

/**
 * Reads a range of the form `>=M.a.p <M.b.0` (same major, b > a): the only form the version check
 * and the version matrix understand, so that no semver package is needed.
 * @throws Error naming package.json's field and the value, for any other form.
 */
export function parseGrpcJsRange(range: string): GrpcJsRange {
  const match = RANGE_FORM.exec(range);
  const [major, firstMinor, firstPatch, endMajor, endMinor] = (match ?? []).slice(1).map(Number) as number[];
  if (match === null || endMajor !== major || endMinor! <= firstMinor!) {
    throw new Error(
      `package.json peerDependencies["@grpc/grpc-js"] is ${JSON.stringify(range)}: expected ">=M.a.p <M.b.0" ` +
        '(one major M, minors a to b - 1, b > a), the only form the version check reads',
    );
  }
  return { major: major!, firstMinor: firstMinor!, firstPatch: firstPatch!, lastMinor: endMinor! - 1 };
}

/** The minors a range covers, as `M.m`, oldest first: those the version matrix installs. */
export function supportedMinorsOf(range: string): string[] {
  const { major, firstMinor, lastMinor } = parseGrpcJsRange(range);
  return Array.from({ length: lastMinor - firstMinor + 1 }, (_, i) => `${major}.${firstMinor + i}`);
}

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
      if (exported !== experimental && (exported as { experimental?: unknown } | null)?.experimental !== experimental)
        continue;
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
      const json = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (json.name === '@grpc/grpc-js' && typeof json.version === 'string')
        return { version: json.version, directory };
    } catch {
      // No package.json at this level: keep climbing.
    }
    const parent = dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  return null;
}

/** Whether `version` (x.y.z; a prerelease counts as its x.y.z) is within `range`. */
export function isSupportedGrpcJsVersion(version: string, range: string = SUPPORTED_GRPC_JS_RANGE): boolean {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (match === null) return false;
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number];
  const supported = parseGrpcJsRange(range);
  if (major !== supported.major || minor > supported.lastMinor) return false;
  return minor > supported.firstMinor || (minor === supported.firstMinor && patch >= supported.firstPatch);
}

/**
 * Throws a TrafficSplitUnsupportedGrpcError when the installed grpc-js is outside `range` (the
 * supported one unless a test gives another), or lacks an extension point the policy needs
 * (`missing`, names in `experimental`). A grpc-js whose version cannot be read passes on features alone.
 */
export function assertSupportedGrpcJs(
  installed: GrpcJsPackage | null,
  missing: readonly string[],
  range: string = SUPPORTED_GRPC_JS_RANGE,
): void {
  const versionOk = installed === null || isSupportedGrpcJsVersion(installed.version, range);
  if (versionOk && missing.length === 0) return;
  const which =
    installed === null
      ? '@grpc/grpc-js (version unknown)'
      : `@grpc/grpc-js ${installed.version} (${installed.directory})`;
  const lacking = missing.length === 0 ? '' : `; it lacks experimental.${missing.join(', experimental.')}`;
  const minors = supportedMinorsOf(range);
  const span = minors.length === 1 ? minors[0] : `${minors[0]} to ${minors[minors.length - 1]}`;
  throw new TrafficSplitUnsupportedGrpcError(
    `${which} is not supported by grpc-traffic-split${lacking}: supported versions are ${range} ` +
      `(${span}); install one of them in the application`,
    installed?.version ?? null,
  );
}

/**
 * The tests' expectations about supported grpc-js versions, derived from a range of the form
 * package.json gives (`>=M.a.p <M.b.0`), so that changing package.json changes them too.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseGrpcJsRange } from '../../src/policy/grpc/grpc-version.js';

/** The repository's package.json (this file is dist/test/helpers/grpc-range.js). */
export const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));

/** `peerDependencies['@grpc/grpc-js']` of a package.json: the one place the range is written. */
export function packageGrpcJsRange(file: string = PACKAGE_JSON): string {
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { peerDependencies: Record<string, string> };
  return manifest.peerDependencies['@grpc/grpc-js']!;
}

/** Versions on both sides of each bound of `range`, with whether each is supported. */
export function versionTable(range: string): [string, boolean][] {
  const { major, firstMinor, firstPatch, lastMinor } = parseGrpcJsRange(range);
  const table: [string, boolean][] = [[`${major}.${firstMinor}.${firstPatch}`, true]];
  if (firstMinor > 0) table.push([`${major}.${firstMinor - 1}.16`, false]);
  if (firstPatch > 0) table.push([`${major}.${firstMinor}.${firstPatch - 1}`, false]);
  for (let minor = firstMinor; minor <= lastMinor; minor++) {
    table.push([`${major}.${minor}.${Math.max(firstPatch, 7)}`, true]);
  }
  table.push(
    [`${major}.${lastMinor}.0-pre.1`, minorOk(lastMinor, firstMinor, firstPatch)],
    [`${major}.${lastMinor + 1}.0`, false],
    [`${major + 1}.${firstMinor}.${firstPatch}`, false],
    [`${major}.${lastMinor}`, false],
    ['garbage', false],
  );
  return table;
}

/** A prerelease counts as its x.y.z: `M.last.0-pre` is in unless the range starts at `M.last.p > 0`. */
function minorOk(minor: number, firstMinor: number, firstPatch: number): boolean {
  return minor > firstMinor || firstPatch === 0;
}

/** Versions registration refuses: the last patch-like version below the range, and the first above. */
export function refusedVersions(range: string): string[] {
  const { major, firstMinor, lastMinor } = parseGrpcJsRange(range);
  return [...(firstMinor > 0 ? [`${major}.${firstMinor - 1}.16`] : []), `${major}.${lastMinor + 1}.0`];
}

/** How the refusal message names the range: `>=M.a.p <M.b.0 (M.a to M.(b-1))`. */
export function rangeInMessage(range: string): string {
  const { major, firstMinor, lastMinor } = parseGrpcJsRange(range);
  const span = firstMinor === lastMinor ? `${major}.${firstMinor}` : `${major}.${firstMinor} to ${major}.${lastMinor}`;
  return `${range} (${span})`;
}

/**
 * Finds the optional peer `@opentelemetry/api` at run time, in a way bundlers leave alone.
 *
 * A `require('@opentelemetry/api')` or `import('@opentelemetry/api')` that names the module in
 * the source is resolved by esbuild and webpack when they bundle an application, and fails the
 * whole bundle when the application does not install the optional peer. A `require` made by
 * `createRequire()` at run time is opaque to both: the bundle builds, and the module is looked
 * up only when `instrumentTrafficSplit()` runs, from where the code then is (this file in
 * node_modules, or the bundle's folder). Jest gives `node:module` its own `createRequire`, so
 * under Jest the module still comes from Jest's registry.
 * @module
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TrafficSplitTelemetryError } from '../../base/errors.js';

/** The optional peer, named once. */
export const OPENTELEMETRY_API = '@opentelemetry/api';

/**
 * Loads `@opentelemetry/api` as the application resolves it, or throws
 * `ERR_SPLIT_OTEL_API_MISSING` with the two ways out.
 */
export function loadOpenTelemetryApi(): unknown {
  try {
    return createRequire(resolutionBase())(OPENTELEMETRY_API);
  } catch (error) {
    throw new TrafficSplitTelemetryError(
      `instrumentTrafficSplit: ${OPENTELEMETRY_API} could not ` +
        `be loaded; install it (npm install ${OPENTELEMETRY_API}) ` +
        `or pass it as options.api (${(error as Error).message.split('\n')[0]})`,
      'ERR_SPLIT_OTEL_API_MISSING',
    );
  }
}

/**
 * The file module resolution starts from. The published build is CommonJS, where `__filename`
 * is this file (or the bundle that holds it). The ES module build of the sources (this
 * repository's own tests) has no `__filename` and resolves from the working folder.
 */
function resolutionBase(): string {
  return typeof __filename === 'string' ? __filename : join(process.cwd(), 'noop.js');
}

/**
 * Other copies of `@grpc/grpc-js` in the process. An application whose dependency pins its own
 * grpc-js (`node_modules/dep/node_modules/@grpc/grpc-js`) has two: the policy and the
 * `traffic-split:` scheme are registered in the one this package imports, and a client built
 * with the other copy does not know the scheme, falls back to `dns:` and fails every call with
 * `Failed to parse DNS address dns:traffic-split:///...`, which says nothing of the cause.
 *
 * So each other copy found in the module cache gets a stand-in resolver for the scheme: it
 * resolves nothing and fails the channel's calls with UNAVAILABLE naming both copies (folder and
 * version) and the fix, and emits that once as a process warning. A copy where the scheme is
 * already registered (another install of this package registered itself there) is left alone.
 * Copies loaded after the last `new TrafficSplit()` are not seen: there is no hook for them.
 * @module
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TARGET_SCHEME } from '../../base/constants.js';
import { installedGrpcJs, reportResolution, Status, type GrpcUri, type ResolverListener } from './grpc.js';
import { grpcJsPackageOfFile, type GrpcJsPackage } from './grpc-version.js';
import { emitClientWarning } from './logging.js';

/** The main file of a grpc-js package, wherever it is installed. */
const GRPC_JS_MAIN = /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/]index\.js$/;

/** The parts of another copy's exports used here (typed loosely: its version is unknown). */
interface OtherGrpcJs {
  Metadata: new () => object;
  experimental: { registerResolver(scheme: string, resolver: unknown): void };
}

/** Copies already looked at, by their exports object. */
const seen = new WeakSet<object>();

/** Installs the stand-in resolver in every other grpc-js copy loaded now. Never throws. */
export function guardOtherGrpcJsCopies(): void {
  // Without the folder of our own copy, no other copy can be told apart from it.
  const registering = installedGrpcJs();
  if (registering === null) return;
  let loaded: [string, NodeJS.Module | undefined][];
  try {
    loaded = Object.entries(createRequire(join(process.cwd(), 'index.js')).cache);
  } catch {
    return; // No module cache (a bundle, a test runner's own loader): nothing to find.
  }
  for (const [file, module] of loaded) {
    const exports: unknown = module?.exports;
    if (!GRPC_JS_MAIN.test(file) || typeof exports !== 'object' || exports === null || seen.has(exports)) continue;
    seen.add(exports);
    const other = grpcJsPackageOfFile(file);
    if (other?.directory === registering.directory) continue;
    try {
      guardCopy(exports as OtherGrpcJs, file, other, registering);
    } catch {
      // A copy too different to guard: it fails as it did before, without the explanation.
    }
  }
}

function guardCopy(
  other: OtherGrpcJs,
  mainFile: string,
  otherPackage: GrpcJsPackage | null,
  registering: GrpcJsPackage,
): void {
  const internals = createRequire(mainFile)('./resolver.js') as { mapUriDefaultScheme(uri: GrpcUri): GrpcUri | null };
  if (internals.mapUriDefaultScheme({ scheme: TARGET_SCHEME, path: 'probe' })?.scheme === TARGET_SCHEME) return;
  const message = wrongCopyMessage(otherPackage, registering);
  let warned = false;
  class OtherCopyResolver {
    constructor(
      private readonly target: GrpcUri,
      private readonly listener: ResolverListener,
    ) {
      if (warned) return;
      warned = true;
      emitClientWarning(`${TARGET_SCHEME}:///${this.target.path}: ${message}`, 'WARN_SPLIT_GRPC_JS_COPIES');
    }

    updateResolution(): void {
      // Never synchronously (the resolver contract).
      process.nextTick(() => {
        const details = `${TARGET_SCHEME}:///${this.target.path}: ${message}`;
        const error = { code: Status.UNAVAILABLE, details, metadata: new other.Metadata() };
        reportResolution(
          this.listener,
          { ok: false, error } as Parameters<typeof reportResolution>[1],
          {},
          null,
          details,
        );
      });
    }

    destroy(): void {}

    static getDefaultAuthority(target: GrpcUri): string {
      return target.path;
    }
  }
  other.experimental.registerResolver(TARGET_SCHEME, OtherCopyResolver);
}

function describe(copy: GrpcJsPackage | null): string {
  return copy === null
    ? '@grpc/grpc-js (version and folder unknown)'
    : `@grpc/grpc-js ${copy.version} (${copy.directory})`;
}

/** What the stand-in says: both copies, and the way out. */
export function wrongCopyMessage(other: GrpcJsPackage | null, registering: GrpcJsPackage | null): string {
  return (
    `this channel was built with ${describe(other)}, but ` +
    `grpc-traffic-split registered its policy in ${describe(registering)}: ` +
    'two copies of @grpc/grpc-js are loaded. Build the client with ' +
    'the @grpc/grpc-js the application (and grpc-traffic-split) ' +
    'resolves, or make them one copy (`npm ls @grpc/grpc-js`, ' +
    'then `npm dedupe` or an "overrides" entry in package.json)'
  );
}

/** The parts of another copy's exports a channel needs. */
interface OtherGrpcJsChannel {
  ChannelCredentials: abstract new (...args: never[]) => object;
  Channel: new (target: string, credentials: object, options: object) => object;
}

/**
 * The `Channel` class of the grpc-js copy whose credentials `credentials` are, when that is not
 * the copy this package uses: a client built with another copy but the split's options must get
 * a channel of its own copy (whose calls the stand-in resolver fails with the explanation), not
 * a TypeError from ours. Null when no loaded copy made them.
 */
export function channelClassOfOtherCopy(credentials: object): OtherGrpcJsChannel['Channel'] | null {
  let loaded: [string, NodeJS.Module | undefined][];
  try {
    loaded = Object.entries(createRequire(join(process.cwd(), 'index.js')).cache);
  } catch {
    return null;
  }
  for (const [file, module] of loaded) {
    const exports = module?.exports as Partial<OtherGrpcJsChannel> | undefined;
    if (!GRPC_JS_MAIN.test(file) || typeof exports !== 'object' || exports === null) continue;
    const { ChannelCredentials, Channel } = exports;
    if (
      typeof ChannelCredentials === 'function' &&
      typeof Channel === 'function' &&
      credentials instanceof ChannelCredentials
    )
      return Channel;
  }
  return null;
}

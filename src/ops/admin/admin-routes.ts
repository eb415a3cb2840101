/**
 * What each path of the admin endpoint does. Handlers only read and change the split; the
 * server (admin-server.ts) does HTTP: authentication, bodies, errors, responses.
 * @internal
 * @module
 */
import { activeRollout, latestRollout, startRollout, type RolloutOptions } from '../rollout/rollout.js';
import { mirrorSettingsJson, type MirrorOptions } from '../../split/ops-port.js';
import { weightsFromRuntimeQuery } from './runtime-modify.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheusMetrics } from '../telemetry/split-metrics.js';
import type { SetWeightsOptions, SplitHandle, SplitStats } from '../../split/ops-port.js';
import { CappedValue } from './admin-json.js';
import { typeErrorAt } from '../../base/errors.js';

/** What a handler sees of a request. */
export interface AdminRequest {
  readonly split: SplitHandle;
  readonly url: URL;
  readonly runtimePrefix: string;
  /** The body parsed as JSON (read only when called; 400/413 are thrown from here). */
  body(): Promise<unknown>;
}

/** A response: JSON unless `text` is given. */
export interface AdminReply {
  status: number;
  json?: unknown;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface AdminHandler {
  /** Changes something: needs the token. */
  write: boolean;
  handle(request: AdminRequest): AdminReply | Promise<AdminReply>;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** A handler for each method a path accepts; others get 405 with these in `Allow`. */
export const ADMIN_ROUTES: Readonly<Record<string, Partial<Record<Method, AdminHandler>>>> = {
  '/weights': {
    GET: read(({ split }) => ok(split.getWeights())),
    PUT: write(async ({ split, url, body }) => changeWeights(split, await body(), rebalanceQuery(url))),
  },
  '/method-weights': {
    GET: read(({ split }) => ok({ methods: split.getMethodWeights() })),
    PUT: write(async ({ split, body }) => {
      const previous = split.getMethodWeights();
      // setMethodWeights validates every entry first: a 400 leaves the overrides as they were.
      split.setMethodWeights((await body()) as Record<string, Record<string, number>>);
      return ok({ methods: split.getMethodWeights(), previous });
    }),
  },
  '/runtime_modify': {
    POST: write(({ split, url, runtimePrefix }) =>
      changeWeights(split, weightsFromRuntimeQuery(url.searchParams, runtimePrefix, split.getWeights())),
    ),
  },
  '/mirror': {
    GET: read(({ split }) => ok({ mirror: mirrorSettingsJson(split.getMirror()) })),
    PUT: write(async ({ split, body }) => {
      const previous = mirrorSettingsJson(split.getMirror());
      // setMirror validates everything first: a 400 leaves the mirror in force as it was.
      split.setMirror((await body()) as MirrorOptions | null);
      return ok({ mirror: mirrorSettingsJson(split.getMirror()), previous });
    }),
  },
  '/stats': { GET: read(({ split }) => ok(statsWithCappedBodies(split.stats()))) },
  '/metrics': {
    GET: read(({ split }) => ({
      status: 200,
      text: renderPrometheusMetrics(split),
      contentType: PROMETHEUS_CONTENT_TYPE,
    })),
  },
  '/rollout': {
    GET: read(({ split }) => {
      const rollout = latestRollout(split);
      return rollout === undefined ? notFound('no rollout has run on this split') : ok(rollout.toJSON());
    }),
    POST: write(async ({ split, body }) => {
      // Validation, the one-at-a-time rule and the first step all happen in startRollout:
      // a bad body or a rollout already running throws before any weight changes.
      const rollout = startRollout(split, (await body()) as RolloutOptions);
      return { status: 202, json: rollout.toJSON(), headers: { location: '/rollout' } };
    }),
    DELETE: write(async ({ split }) => {
      const rollout = activeRollout(split);
      return rollout === undefined
        ? notFound('no rollout is running')
        : ok(await rollout.abort('aborted through the admin endpoint'));
    }),
  },
  '/rollout/pause': {
    POST: write(({ split }) => withActiveRollout(split, (rollout) => rollout.pause())),
  },
  '/rollout/resume': {
    POST: write(({ split }) => withActiveRollout(split, (rollout) => rollout.resume())),
  },
};

/** Characters of JSON each sample's response is shown in, in `GET /stats` (`keepBodies`). */
export const SAMPLE_RESPONSE_CHARS = 2048;
/** Bytes of each binary field of a sample's response shown, in base64, in `GET /stats`. */
export const SAMPLE_BINARY_BYTES = 1024;

/**
 * `stats` with each mirror sample's `response` (the application's decoded message, with
 * `keepBodies`) capped: 1,000 samples of 64 KiB bodies would otherwise make an answer of
 * hundreds of MB. Every side of a sample that has a `response` is capped, whatever its name.
 */
function statsWithCappedBodies(stats: SplitStats): unknown {
  const samples = stats.mirror?.samples;
  if (samples === undefined || samples.length === 0) return stats;
  const capSides = (sample: object): object => {
    const capped: Record<string, unknown> = { ...sample };
    for (const [key, side] of Object.entries(sample)) {
      if (typeof side === 'object' && side !== null && 'response' in side) {
        capped[key] = {
          ...side,
          response: new CappedValue(
            (side as { response: unknown }).response,
            SAMPLE_RESPONSE_CHARS,
            SAMPLE_BINARY_BYTES,
          ),
        };
      }
    }
    return capped;
  };
  return { ...stats, mirror: { ...stats.mirror, samples: samples.map(capSides) } };
}

async function changeWeights(split: SplitHandle, weights: unknown, options?: SetWeightsOptions): Promise<AdminReply> {
  const previous = split.getWeights();
  // setWeights validates everything before changing anything: a 400 leaves the weights as they were.
  // A handle whose weights live elsewhere (a fleet's, in etcd) returns a promise of the change
  // being in force here: the answer then shows the weights it wrote, not the ones before.
  await split.setWeights(weights as Record<string, number>, options);
  return ok({ weights: split.getWeights(), previous });
}

/**
 * `?rebalanceStreamsWithinMs=<ms>` moves open streams after this change (as `setWeights()`'s
 * `rebalanceStreams: { withinMs }`), `=off` does not; without it the split's own option applies.
 */
function rebalanceQuery(url: URL): SetWeightsOptions | undefined {
  const raw = url.searchParams.get(REBALANCE_PARAMETER);
  if (raw === null) return undefined;
  if (raw === 'off') return { rebalanceStreams: false };
  if (!/^\d{1,10}$/.test(raw))
    throw typeErrorAt(REBALANCE_PARAMETER, 'an integer number of milliseconds or "off"', raw);
  return { rebalanceStreams: { withinMs: Number(raw) } };
}

const REBALANCE_PARAMETER = 'rebalanceStreamsWithinMs';

function withActiveRollout(
  split: SplitHandle,
  action: (rollout: NonNullable<ReturnType<typeof activeRollout>>) => void,
): AdminReply {
  const rollout = activeRollout(split);
  if (rollout === undefined) return notFound('no rollout is running');
  action(rollout);
  return ok(rollout.toJSON());
}

function read(handle: AdminHandler['handle']): AdminHandler {
  return { write: false, handle };
}

function write(handle: AdminHandler['handle']): AdminHandler {
  return { write: true, handle };
}

function ok(json: unknown): AdminReply {
  return { status: 200, json };
}

function notFound(error: string): AdminReply {
  return { status: 404, json: { error, code: 'ERR_ADMIN_NOT_FOUND' } };
}

/**
 * An HTTP admin endpoint for one split (node:http, no dependency): read and change weights,
 * Envoy-style `runtime_modify`, stats, Prometheus metrics, rollouts. Loopback by default; every
 * change needs a bearer token.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import { ADMIN_ROUTES, type AdminHandler, type AdminReply, type AdminRequest } from './admin-routes.js';
import { rejectUnknownKeys, requireObject } from './config-helpers.js';
import { describeValue, rangeErrorAt, typeErrorAt, TrafficSplitClosedError, TrafficSplitRangeError, TrafficSplitRolloutError, TrafficSplitTypeError } from './errors.js';
import { logError } from './logging.js';
import { DEFAULT_RUNTIME_PREFIX } from './runtime-modify.js';
import type { TrafficSplit } from './traffic-split.js';

/** Options of `startAdminServer()`. */
export interface AdminServerOptions {
  /** TCP port; 0 picks a free one (read it from the result). */
  port: number;
  /** Address to bind. Anything but loopback requires `token`. @default "127.0.0.1" */
  host?: string;
  /**
   * Bearer token for every change (`Authorization: Bearer <token>`): 16 to 4096 visible ASCII
   * characters. Without a token the endpoint is read-only and loopback-only.
   */
  token?: string;
  /** Require the token for reads too (`GET`). @default false */
  protectReads?: boolean;
  /** Runtime key prefix of `POST /runtime_modify`: `<prefix>.<subset>=<weight>`. @default "routing.traffic_split" */
  prefix?: string;
  /** Largest request body accepted, in bytes; larger gets 413. @default 65536 */
  maxBodyBytes?: number;
}

/** A running admin endpoint. */
export interface AdminServer {
  /** The port it listens on (useful with `port: 0`). */
  readonly port: number;
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

interface ParsedAdminOptions {
  port: number;
  host: string;
  token: string | null;
  protectReads: boolean;
  prefix: string;
  maxBodyBytes: number;
}

/** Default `maxBodyBytes`: weights and rollout options are a few hundred bytes. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const TOKEN_PATTERN = /^[\x21-\x7e]{16,4096}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Bounds a slow client: the whole request (headers and body) must arrive within this. */
const REQUEST_TIMEOUT_MS = 10_000;

/** An HTTP status with a message, thrown inside request handling. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * Serves the split's admin endpoint. Routes (JSON in and out unless noted):
 *
 * | method and path | does |
 * | --- | --- |
 * | `GET /weights` | the weights in force |
 * | `PUT /weights` | replaces all weights (body as `setWeights()`) |
 * | `POST /runtime_modify?<prefix>.<subset>=<weight>&...` | changes the named subsets only, Envoy style |
 * | `GET /stats` | `split.stats()` |
 * | `GET /metrics` | Prometheus text format 0.0.4 |
 * | `POST /rollout` | starts a rollout (body as `startRollout()` options): 202 with its plan, 409 if one runs |
 * | `GET /rollout` | the latest rollout's status |
 * | `DELETE /rollout`, `POST /rollout/pause`, `POST /rollout/resume` | controls the running rollout |
 *
 * Writes need `Authorization: Bearer <token>`: 401 without, 403 with a wrong one (compared in
 * constant time). Invalid bodies get 400 with the validation message and change nothing.
 * @throws TrafficSplitTypeError / RangeError for bad options, among them a non-loopback `host`
 * without `token`; rejects if the port cannot be bound.
 * @example
 * const admin = await startAdminServer(split, { port: 9901, token: process.env.SPLIT_ADMIN_TOKEN });
 * // curl -X POST -H "authorization: Bearer $SPLIT_ADMIN_TOKEN" 'http://127.0.0.1:9901/runtime_modify?routing.traffic_split.v2=30'
 */
export async function startAdminServer(split: TrafficSplit, options: AdminServerOptions): Promise<AdminServer> {
  const parsed = parseAdminOptions(options);
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    void serve(split, parsed, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(parsed.port, parsed.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  const hostInUrl = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
  return { port, host: parsed.host, url: `http://${hostInUrl}:${port}`, close: () => closeServer(server) };
}

function parseAdminOptions(raw: unknown): ParsedAdminOptions {
  const obj = requireObject(raw, 'options', 'an object with at least "port"');
  rejectUnknownKeys(obj, ['port', 'host', 'token', 'protectReads', 'prefix', 'maxBodyBytes'], '');
  const port = obj['port'];
  if (typeof port !== 'number') throw typeErrorAt('port', 'an integer from 0 to 65535', port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw rangeErrorAt('port', 'an integer from 0 to 65535', port);
  const host = obj['host'] ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw typeErrorAt('host', 'a host name or IP address', host);
  const token = obj['token'] ?? null;
  if (token !== null && (typeof token !== 'string' || !TOKEN_PATTERN.test(token))) {
    // The value is a secret: describe its type and length, never show it.
    const shown = typeof token === 'string' ? `a string of ${token.length} characters` : `a value of type ${typeof token}`;
    throw new TrafficSplitTypeError(`token: expected 16 to 4096 visible ASCII characters (no spaces or line breaks), got ${shown}`);
  }
  const protectReads = obj['protectReads'] ?? false;
  if (typeof protectReads !== 'boolean') throw typeErrorAt('protectReads', 'a boolean', protectReads);
  if (token === null && !isLoopback(host)) {
    throw typeErrorAt('token', `a token when host "${host}" is not a loopback address (the endpoint changes traffic)`, undefined);
  }
  if (token === null && protectReads) throw typeErrorAt('token', 'a token when protectReads is true', undefined);
  const prefix = obj['prefix'] ?? DEFAULT_RUNTIME_PREFIX;
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) throw typeErrorAt('prefix', 'dot-separated words such as "routing.traffic_split"', prefix);
  const maxBodyBytes = obj['maxBodyBytes'] ?? DEFAULT_MAX_BODY_BYTES;
  if (typeof maxBodyBytes !== 'number') throw typeErrorAt('maxBodyBytes', 'an integer number of bytes', maxBodyBytes);
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1 || maxBodyBytes > 16 * 1024 * 1024) {
    throw rangeErrorAt('maxBodyBytes', 'an integer from 1 to 16777216', maxBodyBytes);
  }
  return { port, host, token, protectReads, prefix, maxBodyBytes };
}

/** 127.0.0.0/8, ::1 and localhost. Anything else may be reachable from other hosts. */
function isLoopback(host: string): boolean {
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return host === 'localhost' || host === '::1' || (isIPv4(v4) && v4.startsWith('127.'));
}

async function serve(split: TrafficSplit, options: ParsedAdminOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  let reply: AdminReply;
  try {
    const url = new URL(request.url ?? '/', 'http://admin.invalid');
    const handler = route(url.pathname, request.method ?? 'GET');
    authorize(request, options, handler.write);
    const body = () => readJsonBody(request, options.maxBodyBytes);
    const admin: AdminRequest = { split, url, runtimePrefix: options.prefix, body };
    reply = await handler.handle(admin);
  } catch (error) {
    reply = errorReply(error);
  }
  send(response, reply);
}

function route(path: string, method: string): AdminHandler {
  const handlers = Object.hasOwn(ADMIN_ROUTES, path) ? ADMIN_ROUTES[path]! : undefined;
  if (handlers === undefined) throw new HttpError(404, `no such path: ${path}`);
  const handler = (handlers as Record<string, AdminHandler | undefined>)[method];
  if (handler === undefined) {
    const allow = Object.keys(handlers).join(', ');
    throw new HttpError(405, `${method} is not allowed on ${path} (allowed: ${allow})`, { allow });
  }
  return handler;
}

/** Throws 401/403 unless the request may go on. Reads are open unless `protectReads`. */
function authorize(request: IncomingMessage, options: ParsedAdminOptions, write: boolean): void {
  if (!write && !options.protectReads) return;
  if (options.token === null) throw new HttpError(403, 'writes are disabled: the admin endpoint was started without a token');
  const challenge = { 'www-authenticate': 'Bearer realm="traffic-split"' };
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (match === null) throw new HttpError(401, 'authorization required: send "Authorization: Bearer <token>"', challenge);
  // Digests have equal lengths, which timingSafeEqual needs, and hide the token's length.
  const given = createHash('sha256').update(match[1]!).digest();
  const expected = createHash('sha256').update(options.token).digest();
  if (!timingSafeEqual(given, expected)) throw new HttpError(403, 'wrong token');
}

async function readJsonBody(request: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = () => new HttpError(413, `body larger than ${limit} bytes`, { connection: 'close' });
  if (Number(request.headers['content-length'] ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new TrafficSplitTypeError(`body: expected JSON (${(error as Error).message}), got ${describeValue(text)}`);
  }
}

function errorReply(error: unknown): AdminReply {
  if (error instanceof HttpError) return { status: error.status, json: { error: error.message }, headers: error.headers };
  if (error instanceof TrafficSplitTypeError || error instanceof TrafficSplitRangeError) {
    return { status: 400, json: { error: error.message, code: error.code } };
  }
  if (error instanceof TrafficSplitRolloutError || error instanceof TrafficSplitClosedError) {
    return { status: 409, json: { error: error.message, code: error.code } };
  }
  // Not the client's fault: log it, and do not echo internals to the client.
  logError(`admin endpoint: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return { status: 500, json: { error: 'internal error' } };
}

function send(response: ServerResponse, reply: AdminReply): void {
  const body = reply.text ?? `${JSON.stringify(reply.json ?? null, null, 2)}\n`;
  response.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...reply.headers,
  });
  response.end(body);
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections would hold close() open until they idle out.
    server.closeAllConnections();
  });
}

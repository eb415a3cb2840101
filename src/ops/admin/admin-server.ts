/**
 * An HTTP admin endpoint for one split (node:http, no dependency): read and change weights,
 * Envoy-style `runtime_modify`, stats, Prometheus metrics, rollouts. Loopback by default; every
 * change needs a bearer token.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { guardConnections } from './admin-connections.js';
import { parseAdminOptions, type ParsedAdminOptions } from './admin-options.js';
import { ADMIN_ROUTES, type AdminHandler, type AdminReply, type AdminRequest } from './admin-routes.js';
import { HeldReplyBytes, release, renderReply, renderSmallReply, writeReply } from './admin-reply.js';
import {
  ClientAbortError,
  describeError,
  errorReply,
  HttpError,
  isClientAbort,
  refusalReply,
} from './admin-errors.js';
import { describeValue, TrafficSplitClosedError, TrafficSplitTypeError } from '../../base/errors.js';
import { logError, emitClientWarning } from '../../split/ops-port.js';
import { MAX_TIMER_MS } from '../../base/validate.js';
import type { SplitHandle } from '../../split/ops-port.js';

export type { AdminErrorCode } from './admin-errors.js';

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
  /**
   * Most connections open at once. At the cap a new connection replaces the oldest one that
   * is not being served (still sending its request, or idle), so slow clients cannot lock
   * out a prompt one. @default 64
   */
  maxConnections?: number;
  /**
   * Deadline, in milliseconds, for a request's headers to arrive (from the connection, or from
   * the previous answer on a kept-alive connection), and again for its body: a connection that
   * misses it is closed. @default 10000
   */
  requestTimeoutMs?: number;
  /**
   * Host names accepted in the `Host` header while reads are open (no `protectReads`), besides
   * IP addresses and `localhost`: a browser led to the endpoint by DNS rebinding sends the
   * attacker's name, and is refused (403). @default []
   */
  allowedHosts?: string[];
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

/**
 * Serves the split's admin endpoint. Routes (JSON in and out unless noted):
 *
 * | method and path | does |
 * | --- | --- |
 * | `GET /weights` | the weights in force |
 * | `PUT /weights[?rebalanceStreamsWithinMs=<ms>\|off]` | replaces all weights (body as `setWeights()`)¹ |
 * | `POST /runtime_modify?<prefix>.<subset>=<weight>&...` | changes the named subsets only, Envoy style |
 * | `GET /method-weights`, `PUT /method-weights` | the method overrides; replaces them all (as `setMethodWeights()`) |
 * | `GET /mirror`, `PUT /mirror` | the mirror in force; replaces it (body as `setMirror()`, `null` turns it off) |
 * | `GET /stats` | `split.stats()` (each mirror sample's `response` within SAMPLE_RESPONSE_CHARS of JSON) |
 * | `GET /metrics` | Prometheus text format 0.0.4 |
 * | `POST /rollout` | starts a rollout (body as `startRollout()` options): 202 with its plan, 409 if one runs |
 * | `GET /rollout` | the latest rollout's status |
 * | `DELETE /rollout`, `POST /rollout/pause`, `POST /rollout/resume` | controls the running rollout |
 *
 * ¹ The query moves open streams after the change, or not (default: the split's `rebalanceStreams`).
 *
 * Writes need `Authorization: Bearer <token>`: 401 without, 403 with a wrong one (compared in
 * constant time). Invalid bodies get 400 with the validation message and change nothing.
 * Answers are rendered in slices with the event loop free between them, and bounded in bytes
 * (admin-reply.ts); whatever a request does becomes an answer, never an exception.
 * @throws TrafficSplitTypeError / RangeError for bad options, among them a non-loopback `host`
 * without `token`; TrafficSplitClosedError for a closed split; rejects if the port cannot be bound.
 * @example
 * const admin = await startAdminServer(split, { port: 9901, token: process.env.SPLIT_ADMIN_TOKEN });
 * // curl -X POST -H "authorization: Bearer $SPLIT_ADMIN_TOKEN" \
 * //   'http://127.0.0.1:9901/runtime_modify?routing.traffic_split.v2=30'
 */
export async function startAdminServer(split: SplitHandle, options: AdminServerOptions): Promise<AdminServer> {
  // Every change it would accept would throw: refuse it up front, as startRollout() does.
  if (split.closed) throw new TrafficSplitClosedError(split.name, 'startAdminServer()');
  const parsed = parseAdminOptions(options);
  const timeout = parsed.requestTimeoutMs;
  const held = new HeldReplyBytes();
  const server = createServer(
    {
      // Node's own deadlines, checked every connectionsCheckingInterval, only back up the
      // exact timers (guardConnections for headers, readJsonBody for the body): they count
      // headers and body together, so they get both deadlines and then some.
      headersTimeout: Math.min(2 * timeout + 1_000, MAX_TIMER_MS),
      requestTimeout: Math.min(2 * timeout + 1_000, MAX_TIMER_MS),
      connectionsCheckingInterval: Math.min(1_000, timeout),
    },
    (request, response) => {
      // guardConnections runs first and may have closed a connection that pipelines too much.
      if (request.socket.destroyed) return;
      // serve() turns every error into an answer; this is the last resort, so that nothing a
      // request does can end the process with an unhandled rejection.
      serve(split, parsed, held, request, response).catch((error: unknown) => abandon(request, error));
    },
  );
  server.timeout = timeout;
  guardConnections(server, parsed.maxConnections, timeout);
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

async function serve(
  split: SplitHandle,
  options: ParsedAdminOptions,
  held: HeldReplyBytes,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const reply = await answer(split, options, request);
  if (reply === null) return;
  const rendered = await renderReply(reply, held, () => request.socket.destroyed);
  if (rendered === null) return;
  if ('code' in rendered) {
    const refused = refusalReply(rendered);
    return writeReply(request, response, refused, renderSmallReply(refused));
  }
  try {
    await writeReply(request, response, reply, rendered);
  } finally {
    release(held, rendered.size);
  }
}

/** The handler's answer, or the error's; null when the client went away first. Never rejects. */
async function answer(
  split: SplitHandle,
  options: ParsedAdminOptions,
  request: IncomingMessage,
): Promise<AdminReply | null> {
  try {
    const url = requestUrl(request.url ?? '/');
    checkHost(request, options);
    const handler = route(url.pathname, request.method ?? 'GET');
    authorize(request, options, handler.write);
    const body = () => readJsonBody(request, options.maxBodyBytes, options.requestTimeoutMs);
    const admin: AdminRequest = { split, url, runtimePrefix: options.prefix, body };
    return await handler.handle(admin);
  } catch (error) {
    if (isClientAbort(error)) {
      emitClientWarning(
        `admin endpoint: ${request.method} ${(request.url ?? '/').slice(0, 256)}: ${(error as Error).message}`,
        'ERR_ADMIN_ABORTED',
      );
      return null;
    }
    return errorReply(error);
  }
}

/** An answer could not be written: log why, and close the connection (its client gets no answer,
 * which is still better than a process that exits). */
function abandon(request: IncomingMessage, error: unknown): void {
  request.socket.destroy();
  try {
    logError(
      `admin endpoint: ${request.method} ${(request.url ?? '/').slice(0, 256)}: no answer: ${describeError(error)}`,
    );
  } catch {
    // Nothing more can be done: this runs in the promise's last handler.
  }
}

/** The request's target as a URL: origin form (`/stats?x=1`, `//stats` included) or absolute form. */
function requestUrl(target: string): URL {
  try {
    return new URL(target.startsWith('/') ? `http://admin.invalid${target}` : target);
  } catch {
    throw new HttpError(400, 'ERR_ADMIN_BAD_REQUEST', `not a request target: ${JSON.stringify(target.slice(0, 256))}`);
  }
}

/**
 * While reads are open, a page the operator visits could read them through DNS rebinding (its
 * name made to resolve to 127.0.0.1): the browser then sends that name as `Host`. IP literals,
 * `localhost`, the bound host and `allowedHosts` pass; requests without `Host` (not browsers) too.
 */
function checkHost(request: IncomingMessage, options: ParsedAdminOptions): void {
  if (options.protectReads) return;
  const header = request.headers.host;
  if (header === undefined) return;
  const name = hostName(header);
  if (
    isIP(name) !== 0 ||
    name === 'localhost' ||
    name === options.host.toLowerCase() ||
    options.allowedHosts.has(name)
  )
    return;
  throw new HttpError(
    403,
    'ERR_ADMIN_HOST_NOT_ALLOWED',
    `host ${JSON.stringify(header.slice(0, 256))} is not allowed: ` +
      `use an IP address or localhost, or list the name in allowedHosts`,
  );
}

/** `name` of `name:port`, `[v6]:port` or `name`, lower case. */
function hostName(header: string): string {
  const host = header.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') < 0 ? undefined : host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon < 0 || host.indexOf(':') !== colon ? host : host.slice(0, colon);
}

function route(path: string, method: string): AdminHandler {
  const handlers = Object.hasOwn(ADMIN_ROUTES, path) ? ADMIN_ROUTES[path]! : undefined;
  if (handlers === undefined) throw new HttpError(404, 'ERR_ADMIN_NOT_FOUND', `no such path: ${shortPath(path)}`);
  const handler = (handlers as Record<string, AdminHandler | undefined>)[method];
  if (handler === undefined) {
    const allow = Object.keys(handlers).join(', ');
    throw new HttpError(
      405,
      'ERR_ADMIN_METHOD_NOT_ALLOWED',
      `${method} is not allowed on ${path} (allowed: ${allow})`,
      { allow },
    );
  }
  return handler;
}

/** A path as errors quote it: at most 256 characters (a path can be kilobytes long). */
function shortPath(path: string): string {
  return path.length <= 256 ? path : `${path.slice(0, 253)}...`;
}

/** Throws 401/403 unless the request may go on. Reads are open unless `protectReads`. */
function authorize(request: IncomingMessage, options: ParsedAdminOptions, write: boolean): void {
  if (!write && !options.protectReads) return;
  if (options.token === null)
    throw new HttpError(
      403,
      'ERR_ADMIN_FORBIDDEN',
      'writes are disabled: the admin endpoint was started without a token',
    );
  const challenge = { 'www-authenticate': 'Bearer realm="traffic-split"' };
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (match === null)
    throw new HttpError(
      401,
      'ERR_ADMIN_UNAUTHORIZED',
      'authorization required: send "Authorization: Bearer <token>"',
      challenge,
    );
  // Digests have equal lengths, which timingSafeEqual needs, and hide the token's length.
  const given = createHash('sha256').update(match[1]!).digest();
  const expected = createHash('sha256').update(options.token).digest();
  if (!timingSafeEqual(given, expected)) throw new HttpError(403, 'ERR_ADMIN_FORBIDDEN', 'wrong token');
}

/** The body as JSON: at most `limit` bytes, all of it within `timeoutMs` of the headers. */
async function readJsonBody(request: IncomingMessage, limit: number, timeoutMs: number): Promise<unknown> {
  const tooLarge = () => new HttpError(413, 'ERR_ADMIN_BODY_TOO_LARGE', `body larger than ${limit} bytes`);
  if (Number(request.headers['content-length'] ?? 0) > limit) throw tooLarge();
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    if (request.destroyed) {
      reject(new ClientAbortError('the client closed the connection before the body'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: Error | null) => {
      clearTimeout(timer);
      request.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onClose);
      if (outcome === null) resolve(Buffer.concat(chunks));
      else reject(outcome);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) settle(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => settle(null);
    const onClose = () =>
      settle(new ClientAbortError(`the client closed the connection after ${size} bytes of the body`));
    const timer = setTimeout(
      () => settle(new HttpError(408, 'ERR_ADMIN_REQUEST_TIMEOUT', `the body did not arrive within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.on('data', onData).once('end', onEnd).once('close', onClose).once('error', onClose);
  });
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new TrafficSplitTypeError(`body: expected JSON (${(error as Error).message}), got ${describeValue(text)}`);
  }
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections would hold close() open until they idle out.
    server.closeAllConnections();
  });
}

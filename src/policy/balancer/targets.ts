/**
 * Which subset targets grpc-js could ever resolve. A channel accepts almost any string (anything
 * its URI parser takes, a scheme it does not know going to `dns:` whole), then fails at every
 * resolution; a split checks at construction instead, by the same rules.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { channelTargetUri, splitHostPort } from '../grpc/grpc.js';

/** Longest DNS name (RFC 1035), dots included. */
const MAX_DNS_NAME_LENGTH = 253;
/** Dot-separated labels, one optional trailing dot. Labels cannot contain dots, so matching
 * is linear. Underscores are allowed: they occur in real names (`_grpc_config`, SRV-style). */
const DNS_NAME = /^(?:[A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+\.?$/;
const MAX_PORT = 65_535;

/**
 * True when grpc-js could resolve `target` at least in principle: its resolvers for `dns:`,
 * `ipv4:`, `ipv6:` and `unix:` would parse it, or its scheme has a resolver the application
 * registered (which alone decides what it accepts). `localhost:50051` and `127.0.0.1:9090` go to
 * `dns:` as on a channel and are accepted; `not a uri`, `http://host:80` and `dns:///` are not.
 */
export function isResolvableTarget(target: string): boolean {
  const uri = channelTargetUri(target);
  if (uri === null) return false;
  switch (uri.scheme) {
    case 'dns':
      return isHostPort(uri.path, (host) => isIPv4(host) || isIPv6(host) || isDnsName(host));
    case 'ipv4':
      return uri.path.split(',').every((address) => isHostPort(address, isIPv4));
    case 'ipv6':
      return uri.path.split(',').every((address) => isHostPort(address, isIPv6));
    default:
      // `unix:` takes any path; other schemes are the application's to judge.
      return true;
  }
}

/** `host[:port]` as grpc-js splits it, with a host `isHost` accepts and a port that exists. */
function isHostPort(path: string, isHost: (host: string) => boolean): boolean {
  const hostPort = splitHostPort(path);
  if (hostPort === null || !isHost(hostPort.host)) return false;
  return hostPort.port === undefined || hostPort.port <= MAX_PORT;
}

function isDnsName(host: string): boolean {
  return host.length <= MAX_DNS_NAME_LENGTH && DNS_NAME.test(host);
}

/**
 * A gRPC method definition whose messages are JSON, so the examples need no protobuf tooling.
 * Real services would use their generated protobuf definitions instead.
 */
import type * as grpc from '@grpc/grpc-js';

const serialize = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Buffer): any => JSON.parse(bytes.toString());

/** A unary method at `path` (`/package.Service/Method`) with JSON requests and replies. */
export function jsonUnaryMethod(path: string): grpc.MethodDefinition<any, any> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
  };
}

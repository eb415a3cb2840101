/**
 * What the fleet layer (src/fleet) uses from the layers below besides the operations' port: the
 * validators a fleet runs before it writes weights to etcd, so that a bad value is refused where
 * it was given, with the split's own messages, and never reaches the other replicas. The
 * layering check lets src/fleet import this file, `ops-port.ts`, src/ops, src/base and
 * src/algorithms, nothing else of the library.
 * @module
 */
export * from './ops-port.js';
export { validateWeights } from '../policy/balancer/config.js';
export { parseSetWeightsOptions } from '../policy/streams/stream-setup.js';
export { trace } from '../policy/grpc/logging.js';

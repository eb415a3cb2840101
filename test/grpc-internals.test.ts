/**
 * The grpc-js functions src/policy/grpc/grpc.ts reaches outside `experimental`: what we rely on, pinned, so
 * that a grpc-js release that moves or changes them fails here with a clear name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { channelTargetUri, globalPoolSubchannel, validateServiceConfig } from '../src/policy/grpc/grpc.js';

describe('grpc-js internals used by src/policy/grpc/grpc.ts', () => {
  it('validateServiceConfig turns a "1s" timeout into the { seconds, nanos } its calls read', () => {
    const parsed = validateServiceConfig({ methodConfig: [{ name: [{ service: 'a.B' }], timeout: '1s' }] });
    assert.deepEqual(parsed.methodConfig[0]!.timeout, { seconds: 1, nanos: 0 });
    assert.throws(() => validateServiceConfig({ methodConfig: [{ name: [{ service: 'a.B' }], timeout: 'soon' }] }), {
      message: 'Invalid method config: invalid timeout',
    });
  });

  it('channelTargetUri parses targets and maps unknown schemes to dns: as a channel does', () => {
    assert.deepEqual(channelTargetUri('dns:///a:1'), { scheme: 'dns', authority: '', path: 'a:1' });
    assert.deepEqual(channelTargetUri('localhost:50051'), {
      scheme: 'dns',
      authority: undefined,
      path: 'localhost:50051',
    });
    assert.deepEqual(channelTargetUri('ipv4:127.0.0.1:1'), {
      scheme: 'ipv4',
      authority: undefined,
      path: '127.0.0.1:1',
    });
  });

  it("sees the resolvers registered through the application's grpc-js (one registry)", () => {
    class NoResolver {
      updateResolution(): void {}
      destroy(): void {}
      static getDefaultAuthority(): string {
        return 'x';
      }
    }
    assert.equal(channelTargetUri('internals-probe:x')!.scheme, 'dns');
    grpc.experimental.registerResolver(
      'internals-probe',
      NoResolver as unknown as Parameters<typeof grpc.experimental.registerResolver>[1],
    );
    assert.deepEqual(channelTargetUri('internals-probe:x'), {
      scheme: 'internals-probe',
      authority: undefined,
      path: 'x',
    });
  });

  it('globalPoolSubchannel gives one subchannel per target, address, options and equal credentials', () => {
    // Nothing connects: a subchannel connects only when a policy refs it and asks it to.
    const target = { scheme: 'internals-pool-probe', path: 'a' };
    const address = { host: '127.0.0.1', port: 1 };
    const options = { 'grpc.primary_user_agent': 'probe' };
    // Insecure credentials are all equal to grpc-js.
    const insecure = () => grpc.credentials.createInsecure();
    const first = globalPoolSubchannel(target, address, options, insecure());
    assert.equal(globalPoolSubchannel(target, address, { ...options }, insecure()), first);
    assert.notEqual(globalPoolSubchannel({ ...target, path: 'b' }, address, options, insecure()), first);
    assert.notEqual(globalPoolSubchannel(target, { ...address, port: 2 }, options, insecure()), first);
    assert.notEqual(globalPoolSubchannel(target, address, { 'grpc.primary_user_agent': 'other' }, insecure()), first);
  });
});

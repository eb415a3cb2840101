/**
 * The etcd the example uses: `ETCD_HOSTS` (comma-separated client URLs) if set, otherwise a
 * throw-away single-member etcd started from the `etcd` binary on PATH, on free loopback ports,
 * with its data in a temporary directory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ExampleEtcd {
  hosts: string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function exampleEtcd(): Promise<ExampleEtcd> {
  const given = process.env['ETCD_HOSTS'];
  if (given !== undefined && given !== '') return { hosts: given.split(','), stop: async () => undefined };
  const [client, peer] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'fleet-example-etcd-'));
  const clientUrl = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const etcd = spawn(
    'etcd',
    [
      '--name',
      'example',
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `example=${peerUrl}`,
      '--log-level',
      'error',
      '--logger',
      'zap',
    ],
    { stdio: 'ignore' },
  );
  const failed = once(etcd, 'error').then(([error]) => {
    throw new Error(
      `could not start etcd (${(error as Error).message}): install it ` +
        `(Debian/Ubuntu: apt-get install etcd-server) or set ETCD_HOSTS`,
    );
  });
  const healthy = (async () => {
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        const body = (await (await fetch(`${clientUrl}/health`)).json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('etcd did not become healthy within 10 s');
  })();
  await Promise.race([healthy, failed]);
  console.log(`etcd: a throw-away member on ${clientUrl} (set ETCD_HOSTS to use yours)`);
  return {
    hosts: [clientUrl],
    stop: async () => {
      const exited = once(etcd, 'exit');
      etcd.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

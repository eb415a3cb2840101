/**
 * Throwaway certificates for the TLS tests, made at test time with the `openssl` CLI in a temp
 * dir: a CA, a second (wrong) CA, server certificates for `good.test` and `other.test`, and a
 * client certificate, all EC P-256, valid for two days.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  key: Buffer;
  cert: Buffer;
}

export interface TestPki {
  ca: Buffer;
  wrongCa: Buffer;
  good: KeyPair;
  other: KeyPair;
  client: KeyPair;
}

/** True when the `openssl` CLI can be run. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const CA_CONFIG = `[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = grpc-traffic-split test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

function leafExtensions(san: string | null): string {
  return [
    'basicConstraints = CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth, clientAuth',
    'authorityKeyIdentifier = keyid',
    ...(san === null ? [] : [`subjectAltName = ${san}`]),
    '',
  ].join('\n');
}

/** Makes the certificates; the temp dir is removed before returning. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'grpc-traffic-split-tls-'));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    writeFileSync(path('ca.cnf'), CA_CONFIG);
    const makeCa = (name: string) =>
      openssl(
        'req',
        '-x509',
        '-new',
        ...ecKey,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
        '-days',
        '2',
        '-config',
        'ca.cnf',
        '-subj',
        `/CN=${name}`,
      );
    makeCa('ca');
    makeCa('wrong-ca');
    let serial = 1;
    const makeLeaf = (name: string, cn: string, san: string | null): KeyPair => {
      writeFileSync(path(`${name}.ext`), leafExtensions(san));
      openssl(
        'req',
        '-new',
        ...ecKey,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-config',
        'ca.cnf',
        '-subj',
        `/CN=${cn}`,
      );
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        String(++serial),
        '-days',
        '2',
        '-out',
        `${name}.pem`,
        '-extfile',
        `${name}.ext`,
      );
      return { key: readFileSync(path(`${name}.key`)), cert: readFileSync(path(`${name}.pem`)) };
    };
    return {
      ca: readFileSync(path('ca.pem')),
      wrongCa: readFileSync(path('wrong-ca.pem')),
      good: makeLeaf('good', 'good.test', 'DNS:good.test'),
      other: makeLeaf('other', 'other.test', 'DNS:other.test'),
      client: makeLeaf('client', 'test client', null),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the PEM files a test CA made: a server certificate for localhost/127.0.0.1 and others. */
export interface TestCerts {
  dir: string;
  ca: string;
  /** Another CA, which signed none of these. */
  otherCa: string;
  /** For localhost and 127.0.0.1. */
  serverCert: string;
  serverKey: string;
  /** Signed by ca, for the name wrong.invalid only. */
  wrongHostCert: string;
  wrongHostKey: string;
  /** Self-signed, for localhost: trusted by nobody. */
  selfSignedCert: string;
  selfSignedKey: string;
  clientCert: string;
  clientKey: string;
  pem(path: string): string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A P-256 key (fast to make; PostgreSQL, Temporal's Rust core and Node all take it). */
function key(dir: string, name: string): string {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  return join(dir, `${name}.key`);
}

function ca(dir: string, name: string): string {
  key(dir, name);
  openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', `${name}.crt`], dir);
  return join(dir, `${name}.crt`);
}

/** A leaf certificate signed by `signer` (a CA name) or self-signed when signer is null. */
function leaf(dir: string, name: string, signer: string | null, san: string, usage: 'serverAuth' | 'clientAuth', cn = name): string {
  key(dir, name);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`);
  if (signer === null) {
    openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`, '-out', `${name}.crt`], dir);
  } else {
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  }
  return join(dir, `${name}.crt`);
}

/** Makes a fresh CA and certificates in `dir` with the machine's openssl. */
export function makeTestCerts(dir: string, clientCn = 'pg2ch'): TestCerts {
  mkdirSync(dir, { recursive: true });
  const caCrt = ca(dir, 'ca');
  const otherCa = ca(dir, 'other-ca');
  const serverCert = leaf(dir, 'server', 'ca', 'DNS:localhost,IP:127.0.0.1', 'serverAuth', 'localhost');
  const wrongHostCert = leaf(dir, 'wrong-host', 'ca', 'DNS:wrong.invalid', 'serverAuth', 'wrong.invalid');
  const selfSignedCert = leaf(dir, 'self-signed', null, 'DNS:localhost,IP:127.0.0.1', 'serverAuth', 'localhost');
  const clientCert = leaf(dir, 'client', 'ca', '', 'clientAuth', clientCn);
  return {
    dir,
    ca: caCrt,
    otherCa,
    serverCert,
    serverKey: join(dir, 'server.key'),
    wrongHostCert,
    wrongHostKey: join(dir, 'wrong-host.key'),
    selfSignedCert,
    selfSignedKey: join(dir, 'self-signed.key'),
    clientCert,
    clientKey: join(dir, 'client.key'),
    pem: (path) => readFileSync(path, 'utf8'),
  };
}

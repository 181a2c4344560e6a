import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { ClickHouseTls, PgTls, TemporalConfig } from './config';

/**
 * Certificates and keys for TLS connections, read and checked when the
 * configuration is read, so a missing file, a file that is no PEM, or a key
 * without its certificate is one line at start and never a handshake error
 * later. The error class is passed in so config.ts keeps its ConfigError.
 */
export interface FileIo {
  readFile(path: string): string;
  exists(path: string): boolean;
  home(): string;
}

export const nodeIo: FileIo = {
  readFile: (path) => readFileSync(path, 'utf8'),
  exists: (path) => existsSync(path),
  home: () => homedir(),
};

export type PemKind = 'certificate' | 'key';

type Fail = (message: string) => Error;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** Checks `text` is PEM of this kind (every certificate of a bundle parses; a key is unencrypted). */
export function checkPem(what: string, text: string, kind: PemKind, fail: Fail): void {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const expected = kind === 'certificate' ? 'PEM certificates (-----BEGIN CERTIFICATE-----)' : 'a PEM private key (-----BEGIN PRIVATE KEY-----)';
  if (blocks.length === 0) throw fail(`${what} is not PEM: expected ${expected}`);
  if (kind === 'certificate') {
    for (const [block, label] of blocks) {
      if (label !== 'CERTIFICATE') throw fail(`${what} holds a ${label} block: expected ${expected}`);
      try {
        new X509Certificate(block);
      } catch {
        throw fail(`${what} holds a certificate that does not parse: expected ${expected}`);
      }
    }
    return;
  }
  if (blocks.some(([, label]) => label === 'ENCRYPTED PRIVATE KEY') || /Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw fail(`${what} is an encrypted private key: decrypt it (openssl pkey -in key.pem -out plain.pem) and keep the file readable only by the worker`);
  }
  try {
    createPrivateKey(text);
  } catch {
    throw fail(`${what} is not a private key that parses: expected ${expected}`);
  }
}

/** Whether `cert` (its first certificate) belongs to `key`. */
export function certMatchesKey(cert: string, key: string): boolean {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

/** Reads a PEM file named by a variable, one line on failure. */
export function readPemFile(what: string, path: string, kind: PemKind, io: FileIo, fail: Fail): string {
  let text: string;
  try {
    text = io.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? 'error'})`;
    throw fail(`${what} ${JSON.stringify(path)} ${why}`);
  }
  checkPem(`${what} ${JSON.stringify(path)}`, text, kind, fail);
  return text;
}

type Env = Record<string, string | undefined>;

/**
 * A certificate or key given either as a file (<prefix>_PATH) or as PEM in
 * the variable itself (<prefix>_DATA), the names the Temporal CLI uses.
 */
export function pemFromEnv(env: Env, prefix: string, kind: PemKind, io: FileIo, fail: Fail): string | undefined {
  const path = env[`${prefix}_PATH`] || undefined;
  const data = env[`${prefix}_DATA`] || undefined;
  if (path && data) throw fail(`${prefix}_PATH and ${prefix}_DATA are both set: set one of them`);
  if (path) return readPemFile(`${prefix}_PATH`, path, kind, io, fail);
  if (data === undefined) return undefined;
  // PEM in a variable often arrives with its newlines written as \n.
  const text = data.includes('\n') ? data : data.replace(/\\n/g, '\n');
  // The variable's value is never echoed: it may be a key.
  checkPem(`${prefix}_DATA`, text, kind, fail);
  return text;
}

/** A client certificate with its key, both or neither, and matching. */
export function clientPair(certWhat: string, keyWhat: string, cert: string | undefined, key: string | undefined, fail: Fail): { cert: string; key: string } | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) throw fail(`${keyWhat} is set without ${certWhat}: a client key needs its certificate`);
  if (key === undefined) throw fail(`${certWhat} is set without ${keyWhat}: a client certificate needs its key`);
  if (!certMatchesKey(cert, key)) throw fail(`${keyWhat} is not the key of the certificate in ${certWhat}`);
  return { cert, key };
}

/** libpq's default root certificate file, ~/.postgresql/root.crt. */
export function libpqDefaultRootCert(io: FileIo): string {
  return join(io.home(), '.postgresql', 'root.crt');
}

/** The base64 body of a PEM, without its armour lines: a secret's other likely spelling in a message. */
export function pemBody(pem: string): string {
  return pem
    .split(/\r?\n/)
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
}

/** The driver's TLS options for a PostgreSQL connection, with libpq's meaning of sslmode. */
export function pgTlsOptions(tls: PgTls | undefined): false | ConnectionOptions {
  if (!tls) return false;
  const client = tls.clientCert ? { cert: tls.clientCert.cert, key: tls.clientCert.key } : {};
  switch (tls.mode) {
    case 'verify-full':
      // No ca: the system's trusted roots (sslrootcert=system). The driver sends the host as SNI and node checks the name.
      return { ...(tls.ca !== undefined ? { ca: tls.ca } : {}), ...client };
    case 'verify-ca':
      return { ca: tls.ca, checkServerIdentity: () => undefined, ...client };
    case 'require':
      // libpq: with a root certificate, require checks the chain as verify-ca does.
      if (tls.ca !== undefined) return { ca: tls.ca, checkServerIdentity: () => undefined, ...client };
      return { rejectUnauthorized: false, ...client };
    default:
      // no-verify, and allow/prefer once TLS was chosen at start: encrypted, certificate not checked.
      return { rejectUnauthorized: false, ...client };
  }
}

/** Connection options for @temporalio/client's Connection and @temporalio/worker's NativeConnection. */
export function temporalConnectionOptions(cfg: TemporalConfig): {
  address: string;
  tls: false | { serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer }; serverNameOverride?: string };
  apiKey?: string;
} {
  const t = cfg.tls;
  return {
    address: cfg.address,
    // Explicitly false when off: the SDK turns TLS on for an API key unless told not to.
    tls: t
      ? {
          ...(t.ca !== undefined ? { serverRootCACertificate: Buffer.from(t.ca) } : {}),
          ...(t.clientCert ? { clientCertPair: { crt: Buffer.from(t.clientCert.cert), key: Buffer.from(t.clientCert.key) } } : {}),
          ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
        }
      : false,
    ...(cfg.apiKey !== undefined ? { apiKey: cfg.apiKey } : {}),
  };
}

/** @clickhouse/client's tls option; it takes a client certificate only beside a CA. */
export function clickHouseTlsOptions(tls: ClickHouseTls | undefined): { ca_cert: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (!tls) return undefined;
  if (tls.ca === undefined) return undefined;
  return {
    ca_cert: Buffer.from(tls.ca),
    ...(tls.clientCert ? { cert: Buffer.from(tls.clientCert.cert), key: Buffer.from(tls.clientCert.key) } : {}),
  };
}

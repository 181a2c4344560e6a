import { connect, type Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';

export interface TlsProxy {
  port: number;
  /** Connections whose handshake completed (a refused client never counts). */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * A TLS-terminating proxy in front of a plain TCP service (the Temporal dev
 * server's gRPC port, ClickHouse's HTTP port): what a deployment's load
 * balancer does. `clientCa` makes it demand a client certificate that CA
 * signed (mTLS); `h2` offers HTTP/2 by ALPN, as gRPC over TLS needs.
 */
export async function startTlsProxy(opts: { target: { host: string; port: number }; cert: string; key: string; clientCa?: string; h2?: boolean }): Promise<TlsProxy> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createServer(
    {
      cert: readFileSync(opts.cert),
      key: readFileSync(opts.key),
      ...(opts.clientCa ? { ca: readFileSync(opts.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
      ...(opts.h2 ? { ALPNProtocols: ['h2'] } : {}),
    },
    (tlsSocket: TLSSocket) => {
      accepted++;
      const up = connect(opts.target.port, opts.target.host);
      sockets.add(tlsSocket).add(up);
      const done = () => {
        tlsSocket.destroy();
        up.destroy();
        sockets.delete(tlsSocket);
        sockets.delete(up);
      };
      tlsSocket.on('error', done).on('close', done);
      up.on('error', done).on('close', done);
      tlsSocket.pipe(up).pipe(tlsSocket);
    },
  );
  // A refused handshake is the point of some tests: not an error of the proxy.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

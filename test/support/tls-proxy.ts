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

export interface GrpcTlsProxy extends TlsProxy {
  /** The authorization header of every gRPC call seen ('' when a call had none). */
  authorizations(): string[];
}

/**
 * A TLS-terminating HTTP/2 proxy in front of a plaintext gRPC server that
 * records each call's authorization header: what Temporal Cloud checks an
 * API key in. Frames are forwarded as they come, trailers included.
 */
export async function startGrpcTlsProxy(opts: { target: { host: string; port: number }; cert: string; key: string }): Promise<GrpcTlsProxy> {
  const { connect: h2connect, createSecureServer, constants } = await import('node:http2');
  const seen: string[] = [];
  let accepted = 0;
  const upstream = h2connect(`http://${opts.target.host}:${opts.target.port}`);
  upstream.on('error', () => {});
  const server = createSecureServer({ cert: readFileSync(opts.cert), key: readFileSync(opts.key), ALPNProtocols: ['h2'] });
  server.on('secureConnection', () => accepted++);
  server.on('stream', (stream, headers) => {
    seen.push(String(headers.authorization ?? ''));
    const forward = { ...headers };
    delete forward[constants.HTTP2_HEADER_SCHEME];
    const req = upstream.request(forward);
    let trailers: Record<string, string | string[] | undefined> = {};
    req.on('response', (h) => {
      const head = { ...h };
      // A trailers-only answer (an error status at once) ends with its headers.
      if (head['grpc-status'] !== undefined) {
        stream.respond(head, { endStream: true });
        req.close();
        return;
      }
      stream.respond(head, { waitForTrailers: true });
      req.pipe(stream);
    });
    req.on('trailers', (t) => (trailers = { ...t }));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.pipe(req);
    const fail = () => {
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      if (!req.destroyed) req.close(constants.NGHTTP2_CANCEL);
    };
    req.on('error', fail);
    stream.on('error', fail);
    stream.on('close', () => !req.destroyed && req.close());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    accepted: () => accepted,
    authorizations: () => [...seen],
    close: () =>
      new Promise<void>((resolve) => {
        upstream.close();
        server.close(() => resolve());
        // Open client sessions (the SDK's) would keep close waiting.
        setTimeout(resolve, 2000).unref();
      }),
  };
}

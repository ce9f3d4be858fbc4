/**
 * A loopback HTTP/1.1 server written by hand (plain or TLS), so a test decides what happens to
 * each request on each connection: `onRequest(socket, connection, request)` (both numbered from
 * 1) answers or drops it. For requests without a body (GET, HEAD). Counts connections.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface ScriptedServer {
  url: string;
  connections: () => number;
  close: () => Promise<void>;
}

/** A 200 answer to a GET of the 2-byte object `ok` (its ETag is the body's MD5). */
export const OK_ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: "444bcb3a3fcf8389296c49467f27e1d6"\r\nConnection: keep-alive\r\n\r\nok';

/** Start one; with `tlsOptions` (a key and certificate) it speaks HTTPS. */
export async function scriptedServer(
  onRequest: (s: net.Socket, connection: number, request: number) => void,
  tlsOptions?: { key: string; cert: string },
): Promise<ScriptedServer> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const onSocket = (s: net.Socket): void => {
    const connection = ++connections;
    let requests = 0;
    let buffered = '';
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        buffered = buffered.slice(end + 4);
        onRequest(s, connection, ++requests);
      }
    });
  };
  const server = tlsOptions === undefined ? net.createServer(onSocket) : tls.createServer(tlsOptions, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tlsOptions === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

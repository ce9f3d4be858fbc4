/**
 * Child of test/integration/stale-connection-tls.test.ts, in a process started with
 * NODE_EXTRA_CA_CERTS naming the certificate in READPATH_TLS_CERT (so both transports trust the
 * server): each transport reads from a scripted HTTPS server whose kept connection dies under
 * the next request, and one JSON line says what each case gave.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { readBody } from '../../src/backends/body.js';
import { createS3Backend } from '../../src/backends/s3-options.js';
import { OK_ANSWER, scriptedServer } from './scripted-http-server.js';

const tls = { key: readFileSync(process.env.READPATH_TLS_KEY as string, 'utf8'), cert: readFileSync(process.env.READPATH_TLS_CERT as string, 'utf8') };

/** What a case's requests gave: the bodies or error codes, in order, and the connections made. */
interface CaseResult {
  reads: string[];
  connections: number;
}

const CASES: Record<string, { requests: number; onRequest: (s: Socket, connection: number, request: number) => void }> = {
  // The server timed the idle kept connection out just as the second request went out on it.
  'reused dropped': { requests: 2, onRequest: (s, c, r) => (c === 1 && r === 2 ? s.destroy() : s.write(OK_ANSWER)) },
  'reused and new dropped': { requests: 2, onRequest: (s, c, r) => (c === 1 && r === 1 ? s.write(OK_ANSWER) : s.destroy()) },
  'new dropped': { requests: 1, onRequest: (s) => s.destroy() },
};

const out: Record<string, Record<string, CaseResult>> = {};
for (const client of ['lean', 'sdk'] as const) {
  out[client] = {};
  for (const [name, c] of Object.entries(CASES)) {
    const srv = await scriptedServer(c.onRequest, tls);
    const b = createS3Backend({
      client, name: 'tls', endpoint: srv.url, bucket: 'data', forcePathStyle: true,
      accessKeyId: 'AK', secretAccessKey: 'SK', timeoutMs: 5_000, maxSockets: 1,
    });
    const reads: string[] = [];
    try {
      for (let i = 0; i < c.requests; i++) {
        try {
          reads.push(Buffer.from(await readBody(await b.get('k'))).toString());
        } catch (err) {
          reads.push(`error ${String((err as { code?: unknown }).code)}`);
        }
      }
    } finally {
      await b.close();
      await srv.close();
    }
    out[client][name] = { reads, connections: srv.connections() };
  }
}
console.log(JSON.stringify(out));

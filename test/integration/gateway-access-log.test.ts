/**
 * `readpath serve`'s access log leaves in few writes: the lines of requests answered in one turn
 * of the event loop reach stderr as one write (src/cli/coalesced-writer.ts), every line intact
 * and none lost when the gateway stops. The CLI runs in this process, so stderr's writes can be
 * counted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { runCli } from '../../src/cli/program.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { until } from '../helpers/executor-world.js';
import { within } from '../helpers/within.js';

const REQUESTS = 40;

describe('readpath serve: access log writes', () => {
  let tmp: string;
  let config: string;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-access-log-'));
    const db = path.join(tmp, 'meta.db');
    await (await SqliteMetadataStore.open({ path: db })).close();
    config = path.join(tmp, 'readpath.yaml');
    // No request here reaches a backend: each is refused (403) before a read starts.
    await writeFile(config, [
      'backends:',
      '  - name: b1',
      '    endpoint: "http://127.0.0.1:9"',
      '    bucket: data',
      '    access_key_id: AKIAACCESSLOG0000001',
      '    secret_access_key: access-log-secret',
      '    force_path_style: true',
      'database:',
      '  driver: sqlite',
      `  path: ${JSON.stringify(db)}`,
      'logging:',
      '  level: info',
      'buckets:',
      '  - name: docs',
      '    credentials:',
      '      - access_key_id: AKIAACCESSLOG0000002',
      '        secret_access_key: access-log-secret-2',
      '',
    ].join('\n'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it(`answers ${REQUESTS} requests that arrive together with their ${REQUESTS} log lines in a few writes`, async () => {
    const writes: string[] = [];
    const stderr = new Writable({
      write(chunk: Buffer, _enc, cb) {
        writes.push(chunk.toString());
        cb();
      },
    });
    const stop = new AbortController();
    const exit = runCli(['serve', '-c', config, '--listen', '127.0.0.1:0'], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }, { signal: stop.signal });
    let url: URL | undefined;
    try {
      await until(() => {
        const m = /serving S3 on (http:\/\/127\.0\.0\.1:\d+)/.exec(writes.join(''));
        if (m?.[1] !== undefined) url = new URL(m[1]);
        return url !== undefined;
      }, 'serve to listen', 30_000);
      const port = Number(url?.port);
      // Every socket connected first, then every request written in one tick: the gateway, in
      // this process, finds them all waiting when it next polls.
      const sockets = await Promise.all(Array.from({ length: REQUESTS }, () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      })));
      const round = async (tag: string): Promise<number> => {
        const answers = sockets.map((s) => new Promise<string>((resolve) => {
          let got = '';
          const onData = (d: Buffer): void => {
            got += d.toString();
            if (!got.includes('</Error>')) return;
            s.off('data', onData);
            resolve(got);
          };
          s.on('data', onData);
        }));
        const before = writes.length;
        for (const [i, s] of sockets.entries()) s.write(`GET /docs/${tag}-${i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        for (const a of await Promise.all(answers)) assert.match(a, /^HTTP\/1\.1 403 /);
        const lines = (): string[] => writes.slice(before).join('').split('\n').filter((l) => l.startsWith('readpath: info: request ('));
        await until(() => lines().length === REQUESTS, 'every access-log line');
        for (let i = 0; i < REQUESTS; i++) assert.equal(lines().filter((l) => l.includes(` path=/docs/${tag}-${i} `) && l.includes(' status=403 ')).length, 1, `${tag}-${i}`);
        return writes.slice(before).filter((w) => w.includes('readpath: info: request (')).length;
      };
      // The first round has every connection accepted (a listener may accept them over several
      // turns); the second finds every request waiting at once.
      await round('warm');
      const logWrites = await round('key');
      assert.ok(logWrites <= REQUESTS / 4, `${logWrites} writes for ${REQUESTS} lines`);
      for (const s of sockets) s.destroy();
    } finally {
      stop.abort();
      assert.equal(await within(exit, 60_000, 'the gateway to exit after its stop'), 0, writes.join(''));
    }
    // Lines written while it stopped are not held back either.
    assert.match(writes.join(''), /readpath: info: request \(.* path=\/docs\/key-0 /);
  });
});

/**
 * `readpath serve --processes 2` stopped while its processes are first starting: the primary
 * (src/cli/commands/serve.ts over src/gateway/cluster-primary.ts) stops them at once and exits 0,
 * rather than waiting until every one listens to drain it. The CLI runs in this process; its
 * node:cluster forks test/helpers/starting-gateway-process.mjs, real processes of which one
 * listens and one stays starting, each saying when it is up (the gate the stop waits for).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/program.js';
import { within } from '../helpers/within.js';

const CHILD = fileURLToPath(new URL('../helpers/starting-gateway-process.mjs', import.meta.url));

describe('serve --processes: SIGTERM while the processes are first starting', () => {
  let tmp: string;
  let config: string;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-primary-start-'));
    config = path.join(tmp, 'readpath.yaml');
    await writeFile(config, [
      'backends:',
      '  - { name: b1, endpoint: "http://127.0.0.1:9", bucket: data, access_key_id: AKIAPRIMARYSTART0001, secret_access_key: primary-start-secret }',
      'database: { driver: memory }',
      'buckets:',
      '  - { name: docs, credentials: [ { access_key_id: AKIAPRIMARYSTART0002, secret_access_key: primary-start-client } ] }',
      '',
    ].join('\n'));
    cluster.setupPrimary({ exec: CHILD, execArgv: [], args: [] });
  });
  after(async () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    await rm(tmp, { recursive: true, force: true });
  });

  it('stops them at once, the one listening drained and the one starting signalled, and exits 0', async () => {
    const up = new Set<number>();
    const exits = new Map<number, { code: number | null; signal: string | null }>();
    let allUp!: () => void;
    const gate = new Promise<void>((resolve) => (allUp = resolve));
    const onMessage = (w: Worker, m: unknown): void => {
      const index = (m as { test?: string; index?: number }).test === 'up' ? (m as { index: number }).index : undefined;
      if (index === undefined) return;
      up.add(index);
      exits.set(w.id, { code: null, signal: null });
      if (up.size === 2) allUp();
    };
    const onExit = (w: Worker, code: number | null, signal: string | null): void => void exits.set(w.id, { code, signal });
    cluster.on('message', onMessage);
    cluster.on('exit', onExit);
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (b: Buffer) => (err += b.toString()));
    const stop = new AbortController();
    try {
      const exit = runCli(['serve', '-c', config, '--processes', '2'], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }, { signal: stop.signal });
      assert.equal(await within(gate, 60_000, 'both processes to be up'), undefined, err);
      // Process 1 never listens: before the fix the primary waited for it to drain the gateway.
      stop.abort();
      assert.equal(await within(exit, 60_000, 'the primary to exit after SIGTERM'), 0, err);
      assert.deepEqual([...exits.values()].map((e) => e.code).sort(), [0, 130], 'one drained (0), one interrupted while starting (130)');
      assert.doesNotMatch(err, /serving S3 on/, 'the gateway never said it served');
    } finally {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
    }
  });
});

/**
 * What a CLI start loads: importing the program (and `--version`) loads commander and nothing
 * else — not the reader, its config validation, stores or worker pool; pino loads with the
 * first log line actually written, so a quiet run never loads it. The lazy logger behaves as
 * pino does meanwhile (level get/set and validation, isLevelEnabled, flush, no-op methods).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG_PATH } from '../../src/cli/config-path.js';
import { DEFAULT_CONFIG_PATH as READER_DEFAULT } from '../../src/cli/reader.js';
import { PINO_MATERIALIZED, createLogger, lazyPino } from '../../src/telemetry/logger.js';
import { loadedBySteps } from '../helpers/package-steps.js';
import { runTsChild } from '../helpers/run-ts-child.js';

const CHILD = fileURLToPath(new URL('../helpers/cli-startup-child.ts', import.meta.url));

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

const materialized = (logger: object): boolean => (logger as Record<symbol, boolean>)[PINO_MATERIALIZED] === true;

describe('CLI start', () => {
  it('imports commander only; pino with the first line written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readpath-cli-startup-'));
    const log = join(dir, 'packages.log');
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, READPATH_PACKAGE_LOG: log };
      delete env['READPATH_LOG_LEVEL'];
      const out = await runTsChild(CHILD, { env });
      const r = JSON.parse(out.trim().split('\n').pop() as string) as { code: number; stdout: string; stderr: string };
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^\d+\.\d+\.\d+/);
      const steps = loadedBySteps(readFileSync(log, 'utf8'));
      const at = (s: string): Set<string> => {
        const v = steps.get(s);
        assert.ok(v !== undefined, `step ${s} logged`);
        return v;
      };
      assert.deepEqual([...at('version')], ['commander'], 'the program and --version need commander alone');
      assert.ok(!at('quiet').has('pino'), 'a logger with nothing to write does not load pino');
      assert.ok(at('warned').has('pino'), 'the first warning loads it');
      assert.match(r.stderr, /^readpath: warn: careful \(secret_access_key=\(redacted\)\)\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the reader's default configuration file", () => {
    assert.equal(DEFAULT_CONFIG_PATH, READER_DEFAULT);
  });
});

describe('lazy pino logger', () => {
  it('answers level questions and drops disabled lines without building pino', () => {
    const s = sink();
    const logger = lazyPino({ name: 't', level: 'warn' }, s.stream);
    assert.equal(logger.level, 'warn');
    assert.equal(logger.levelVal, 40);
    assert.equal(logger.isLevelEnabled('info'), false);
    assert.equal(logger.isLevelEnabled('error'), true);
    logger.trace('x');
    logger.debug({ a: 1 }, 'x');
    logger.info('x');
    let flushed = false;
    logger.flush(() => (flushed = true));
    assert.ok(flushed);
    logger.level = 'error';
    assert.equal(logger.level, 'error');
    logger.warn('dropped at error');
    assert.throws(() => (logger.level = 'loud'), /unknown level loud/);
    assert.equal(logger.level, 'error');
    assert.equal(materialized(logger), false);
    assert.throws(() => lazyPino({ level: 'nope' }, s.stream), /unknown level nope/);
  });

  it('writes what pino writes once a line is enabled, at the level set before', async () => {
    const s = sink();
    const logger = createLogger('silent', s.stream);
    logger.fatal('dropped');
    logger.level = 'debug';
    assert.equal(materialized(logger), false);
    logger.debug({ cfg: { password: 'TOPSECRET' } }, 'hello');
    assert.equal(materialized(logger), true);
    assert.equal(logger.level, 'debug');
    logger.trace('dropped by pino');
    logger.level = 'info';
    logger.debug('dropped after the change');
    logger.child({ part: 'c' }).info('from a child');
    assert.throws(() => (logger.level = 'loud'));
    await new Promise((r) => setImmediate(r));
    const lines = s.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => [l['level'], l['msg']]), [[20, 'hello'], [30, 'from a child']]);
    assert.deepEqual(lines[0]?.['cfg'], { password: '(redacted)' });
    assert.equal(lines[1]?.['part'], 'c');
    assert.equal(lines[0]?.['name'], 'readpath');
  });
});

describe('V8 flags by command (src/cli/v8-flags.ts)', () => {
  it('one-object commands keep the baseline wasm parser (no TurboFan compile to wait for at exit); the others keep V8\'s defaults', async () => {
    const { v8FlagsFor } = await import('../../src/cli/v8-flags.js');
    for (const args of [['get', 'k'], ['head', 'k'], ['--json', 'get', '-c', 'x.yaml', 'k'], ['--verbose', '--json', 'head', 'k']]) {
      assert.deepEqual(v8FlagsFor(args), ['--wasm-tiering-budget=2000000000'], args.join(' '));
    }
    for (const args of [[], ['--version'], ['batch', '--keys', 'f'], ['serve'], ['--json', 'serve', '--listen', '127.0.0.1:0'], ['validate'], ['demo'], ['bench'], ['batch', 'get']]) {
      assert.deepEqual(v8FlagsFor(args), [], args.join(' '));
    }
    assert.deepEqual(v8FlagsFor(['get', 'k'], '12.4.254.21-node.33'), ['--wasm-tiering-budget=2000000000'], 'Node 22');
    assert.deepEqual(v8FlagsFor(['get', 'k'], '13.6.233.10-node.27'), ['--wasm-tiering-budget=2000000000'], 'Node 24');
    assert.deepEqual(v8FlagsFor(['get', 'k'], '14.1.1'), [], 'a V8 not checked yet gets no flag (it would print "unrecognized flag")');
  });
});

describe('what the CLI starts before loading its commands (src/cli/early-start.ts)', () => {
  it('finds the command past global flags, and starts the probe pool early only for batch and serve', async () => {
    const { commandOf, startsPoolEarly } = await import('../../src/cli/early-start.js');
    assert.equal(commandOf(['--json', '--verbose', 'batch', '--keys', 'f']), 'batch');
    assert.equal(commandOf(['--version']), undefined);
    for (const args of [['batch', '--keys', 'f'], ['--json', 'batch', '-c', 'x.yaml', '--out', 'd'], ['serve'], ['--verbose', 'serve', '--listen', '127.0.0.1:0']]) {
      assert.equal(startsPoolEarly(args), true, args.join(' '));
    }
    for (const args of [[], ['--version'], ['get', 'k'], ['head', 'k'], ['validate'], ['demo'], ['bench'], ['batch', '--help'], ['serve', '-h'], ['get', 'batch']]) {
      assert.equal(startsPoolEarly(args), false, args.join(' '));
    }
  });

  it('prestarts as many workers as the command will ask for: batch --threads N, else a batch\'s or serve\'s default', async () => {
    const { poolThreadsFor, threadsFlag } = await import('../../src/cli/early-start.js');
    const { batchThreads, defaultThreads } = await import('../../src/config/runtime-defaults.js');
    assert.equal(poolThreadsFor(['batch', '--keys', 'f']), batchThreads());
    assert.equal(poolThreadsFor(['batch', '--threads', '3', '--keys', 'f']), 3);
    assert.equal(poolThreadsFor(['--json', 'batch', '--threads=5']), 5);
    assert.equal(poolThreadsFor(['serve', '--threads', '3']), defaultThreads(), 'serve has no --threads');
    // What the option parser refuses starts the default (the command then fails with a usage error).
    for (const bad of ['0', '-1', '2.5', 'two', '257', '']) assert.equal(threadsFlag(['batch', '--threads', bad]), undefined, bad);
    assert.equal(threadsFlag(['batch', '--threads']), undefined);
    assert.equal(threadsFlag(['batch', '--threads', '256']), 256);
  });
});

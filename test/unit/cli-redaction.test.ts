/**
 * Secrets never reach output: pino's path redaction for config objects, and the CLI reporter's
 * scrubbing of every line it writes (logs, errors, events), whatever the nesting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { configSecrets } from '../../src/config/mask.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { Reporter, type CliIO } from '../../src/cli/reporter.js';

const SECRET = 'S3CR3T-key/with+chars"and\\quotes';
const PASSWORD = 'pg-S3CR3T-password';

async function config() {
  return loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'AKID-visible', secret_access_key: SECRET }],
    database: { driver: 'postgres', host: '127.0.0.1', database: 'x', user: 'u', password: PASSWORD },
  });
}

function sink(): { text: () => string; stream: NodeJS.WritableStream & { isTTY?: boolean } } {
  let text = '';
  return { text: () => text, stream: { write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WritableStream };
}

function assertNoSecret(text: string): void {
  assert.ok(text.length > 0, 'something was written');
  for (const s of [SECRET, JSON.stringify(SECRET).slice(1, -1), PASSWORD]) assert.ok(!text.includes(s), `secret ${s} leaked in: ${text}`);
}

describe('secrets in logs', () => {
  it('createLogger redacts a logged config object', async () => {
    const c = await config();
    const out = sink();
    const logger = createLogger('info', out.stream);
    logger.info({ config: c }, 'config');
    logger.info(c, 'top-level config');
    logger.info({ backend: c.backends[0] }, 'one backend');
    logger.info({ database: { password: PASSWORD } }, 'db');
    assertNoSecret(out.text());
    assert.match(out.text(), /\(redacted\)/);
  });

  it('the CLI reporter scrubs every line, JSON or text, however deep the secret sits', async () => {
    const c = await config();
    for (const json of [true, false]) {
      const err = sink();
      const io: CliIO = { stdin: process.stdin, stdout: sink().stream, stderr: err.stream, env: {} };
      const reporter = new Reporter(io, { json, verbose: true });
      reporter.scrubber.add(configSecrets(c));
      const logger = reporter.readerLogger('debug');
      logger.warn({ deeply: { nested: { cfg: c } } }, `message mentioning ${SECRET}`);
      reporter.info(`event ${PASSWORD}`, { some: { field: SECRET } });
      reporter.error(new Error(`backend said ${SECRET}`));
      assertNoSecret(err.text());
      assert.match(err.text(), /AKID-visible|\(redacted\)/);
    }
  });
});

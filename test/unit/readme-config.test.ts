/**
 * The README's configuration examples (its ```yaml blocks) load: each is read with the
 * configuration loader — a fragment (one section) beside the backends and database it needs —
 * with every `${VAR}` it names set, so the README cannot show a key or value readpath refuses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { readmeYamlBlocks } from '../helpers/readme-examples.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** What a fragment is loaded beside. */
const BASE = {
  backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9000', bucket: 'data', access_key_id: 'k', secret_access_key: 's' }],
  database: { driver: 'memory' },
};
/** A value for every variable a block names: keys are base64 of 32 bytes, the rest plain text. */
function envFor(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/\$\{([A-Z0-9_]+)(?::-[^}]*)?\}/g)) {
    const name = m[1] as string;
    env[name] = /MASTER_KEY$/.test(name) ? Buffer.alloc(32, name.length).toString('base64') : `value-of-${name.toLowerCase()}`;
  }
  return env;
}

describe("the README's configuration examples", () => {
  const blocks = readmeYamlBlocks(README);

  it('there are some (the README shows its configuration in ```yaml blocks)', () => {
    assert.ok(blocks.length >= 5, `found ${blocks.length}`);
  });

  for (const b of blocks) {
    it(`the block at README line ${b.line} loads`, async () => {
      const doc = parse(b.text) as Record<string, unknown>;
      assert.equal(typeof doc, 'object', 'a mapping');
      // Unknown keys, bad values and unset variables are refused by the loader (INVALID_CONFIG).
      await loadConfig({ ...BASE, ...doc } as never, { env: envFor(b.text) });
    });
  }
});

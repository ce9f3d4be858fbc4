/**
 * Backends without keys take their credentials from the AWS default chain, in both transports
 * alike: environment variables, a shared credentials file's profile, and a web identity token
 * exchanged at a loopback STS — whose credentials are refreshed before they expire while reads
 * go on, none failing — and the STS calls go to the backend's region, as the SDK transport's and
 * s3-orchestrator's do. Each case runs in a child process with an environment of its own
 * (test/helpers/credential-chain-child.ts), against a stub that checks every signature and
 * session token.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTsChild } from '../helpers/run-ts-child.js';
import type { ChainResult } from '../helpers/credential-chain-child.js';
import { REFRESH_BEFORE_EXPIRY_MS } from '../../src/backends/s3-credentials.js';

const CHILD = fileURLToPath(new URL('../helpers/credential-chain-child.ts', import.meta.url));

let dir = '';

/** The child's results, run with only `env` (and what every case needs) set: nothing of this machine's AWS setup. */
async function run(env: Record<string, string>): Promise<Record<'lean' | 'sdk', ChainResult>> {
  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    AWS_CONFIG_FILE: join(dir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const out = await runTsChild(CHILD, { env: { ...base, ...env }, timeoutMs: 120_000 });
  return JSON.parse(out.trim().split('\n').pop() as string) as Record<'lean' | 'sdk', ChainResult>;
}

describe('the default credential chain, both transports', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'readpath-chain-'));
    await writeFile(join(dir, 'credentials'), '[default]\naws_access_key_id = AKWRONG\naws_secret_access_key = wrong\n\n[reader]\naws_access_key_id = AKPROFILE\naws_secret_access_key = profile-secret\n');
    await writeFile(join(dir, 'token'), 'web-identity-token');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('environment variables, session token included', async () => {
    const r = await run({ AWS_ACCESS_KEY_ID: 'AKENV', AWS_SECRET_ACCESS_KEY: 'env-secret', AWS_SESSION_TOKEN: 'env-token' });
    for (const client of ['lean', 'sdk'] as const) assert.deepEqual(r[client], { ok: 8, failed: [], keys: ['AKENV'], stsCalls: 0, lookups: [] }, client);
  });

  it("a shared credentials file's profile (AWS_PROFILE)", async () => {
    const r = await run({ AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_PROFILE: 'reader' });
    for (const client of ['lean', 'sdk'] as const) assert.deepEqual(r[client], { ok: 8, failed: [], keys: ['AKPROFILE'], stsCalls: 0, lookups: [] }, client);
  });

  it('a web identity token: STS credentials, refreshed before they expire while reads go on, no read failing', async () => {
    const r = await run({
      AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'),
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/reader',
      // Issued a second outside the refresh window: the reads that follow cross into it.
      READPATH_STS_TTL_MS: String(REFRESH_BEFORE_EXPIRY_MS + 1_000),
      READPATH_UNTIL_REFRESH: '1',
    });
    for (const client of ['lean', 'sdk'] as const) {
      const c = r[client];
      assert.deepEqual(c.failed, [], client);
      assert.ok(c.stsCalls >= 2, `${client}: refreshed (${c.stsCalls} STS calls)`);
      assert.match(c.keys[0] ?? '', /^AKSTS\d+$/, client);
      assert.notEqual(c.keys.at(-1), c.keys[0], `${client}: the last reads signed with refreshed credentials (${c.keys.join(' ')})`);
      assert.deepEqual(c.lookups, [], client);
    }
  });

  it("a web identity token is exchanged at the STS of the backend's region", async () => {
    const r = await run({
      AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'),
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/reader',
      READPATH_STS: 'aws',
      READPATH_REGION: 'eu-west-3',
    });
    for (const client of ['lean', 'sdk'] as const) {
      const c = r[client];
      assert.equal(c.ok, 0, client);
      assert.deepEqual(c.lookups, ['sts.eu-west-3.amazonaws.com'], client);
      assert.equal(c.failed.length, 8, client);
      for (const f of c.failed) assert.match(f, /^BACKEND_ERROR .*ENOTFOUND sts\.eu-west-3\.amazonaws\.com/, client);
    }
  });
});

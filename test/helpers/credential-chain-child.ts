/**
 * Child of test/integration/s3-credential-chain.test.ts, in a process whose environment the test
 * chose (the AWS default chain reads it once per process). It starts a strict SigV4 stub
 * (s3-stub.ts: signatures and session tokens checked) and a loopback STS that answers
 * AssumeRoleWithWebIdentity (AWS_ENDPOINT_URL_STS points the SDK's STS client at it, unless
 * READPATH_STS=aws), then each transport, built without keys, reads from the stub. Host names
 * under amazonaws.com are never resolved: their lookups fail at once and are recorded.
 *
 * Environment: READPATH_REGION (the backend's), READPATH_STS_TTL_MS (lifetime of the credentials
 * STS gives), READPATH_UNTIL_REFRESH=1 (read until a transport has signed with credentials STS
 * gave after its first ones, a few reads at a time, instead of 8 reads). One JSON line out.
 */
import dns from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../../src/backends/body.js';
import { createS3Backend } from '../../src/backends/s3-options.js';
import { startS3Stub, type StubCredential } from './s3-stub.js';

/** What one transport's reads gave. */
export interface ChainResult {
  ok: number;
  failed: string[];
  /** Access key ids the stub saw, in order, repeats folded. */
  keys: string[];
  /** AssumeRoleWithWebIdentity calls during this transport's reads. */
  stsCalls: number;
  /** amazonaws.com host names the transport tried to resolve. */
  lookups: string[];
}

const lookups: string[] = [];
const realLookup = dns.lookup;
// Node's net module calls dns.lookup through the module object, so this sees every connect.
(dns as { lookup: unknown }).lookup = (host: string, options: unknown, callback?: unknown): void => {
  const cb = (typeof options === 'function' ? options : callback) as (err: Error) => void;
  if (host.endsWith('.amazonaws.com')) {
    lookups.push(host);
    process.nextTick(() => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host })));
    return;
  }
  (realLookup as (...a: unknown[]) => void)(host, options, callback);
};

const region = process.env.READPATH_REGION ?? 'us-east-1';
const ttlMs = Number(process.env.READPATH_STS_TTL_MS ?? 3_600_000);
const stsCreds: StubCredential[] = [];
let stsCalls = 0;
const sts = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    const form = new URLSearchParams(body);
    if (form.get('Action') !== 'AssumeRoleWithWebIdentity' || form.get('WebIdentityToken') !== 'web-identity-token') {
      res.writeHead(400, { 'content-type': 'text/xml' }).end('<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>bad</Message></Error></ErrorResponse>');
      return;
    }
    stsCalls++;
    const n = stsCreds.length + 1;
    const cred = { accessKeyId: `AKSTS${n}`, secretAccessKey: `sts-secret-${n}`, sessionToken: `sts-token-${n}` };
    stsCreds.push(cred);
    stub.setCredentials([...fixed, ...stsCreds]);
    const expiration = new Date(Date.now() + ttlMs).toISOString();
    res.writeHead(200, { 'content-type': 'text/xml' }).end(
      '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>' +
      `<Credentials><AccessKeyId>${cred.accessKeyId}</AccessKeyId><SecretAccessKey>${cred.secretAccessKey}</SecretAccessKey>` +
      `<SessionToken>${cred.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
      '<SubjectFromWebIdentityToken>reader</SubjectFromWebIdentityToken><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/reader/s</Arn>' +
      '<AssumedRoleId>AROAREADER:s</AssumedRoleId></AssumedRoleUser></AssumeRoleWithWebIdentityResult>' +
      '<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>',
    );
  });
});
await new Promise<void>((resolve) => sts.listen(0, '127.0.0.1', resolve));
if (process.env.READPATH_STS !== 'aws') process.env.AWS_ENDPOINT_URL_STS = `http://127.0.0.1:${(sts.address() as AddressInfo).port}`;

const fixed: StubCredential[] = [
  { accessKeyId: 'AKENV', secretAccessKey: 'env-secret', sessionToken: 'env-token' },
  { accessKeyId: 'AKPROFILE', secretAccessKey: 'profile-secret' },
];
const stub = await startS3Stub({ bucket: 'data', region, credentials: fixed });
stub.put('k', 'hello');

const out: Record<string, ChainResult> = {};
for (const client of ['lean', 'sdk'] as const) {
  const seenBefore = stub.requests().length;
  const stsBefore = stsCalls;
  const credsBefore = stsCreds.length;
  lookups.length = 0;
  const b = createS3Backend({ client, name: 'b', endpoint: stub.endpoint, bucket: 'data', region, forcePathStyle: true, timeoutMs: 10_000 });
  const r: ChainResult = { ok: 0, failed: [], keys: [], stsCalls: 0, lookups: [] };
  const read = async (): Promise<void> => {
    try {
      const body = Buffer.from(await readBody(await b.get('k'))).toString();
      if (body === 'hello') r.ok++;
      else r.failed.push(`body ${body}`);
    } catch (err) {
      r.failed.push(`${String((err as { code?: unknown }).code)} ${(err as Error).message}`);
    }
  };
  /** Whether a read was answered with credentials STS gave after this transport's first. */
  const refreshed = (): boolean => stub.requests().slice(seenBefore).some((q) => q.status === 200 && stsCreds.slice(credsBefore + 1).some((c) => String(q.headers.authorization).includes(`Credential=${c.accessKeyId}/`)));
  try {
    if (process.env.READPATH_UNTIL_REFRESH === '1') {
      // Rounds of 4 reads in flight; the credentials enter their refresh window a second after
      // they were issued, so this ends once a round has used the new ones (or fails at the cap).
      for (let round = 0; round < 600 && !refreshed(); round++) {
        await Promise.all([read(), read(), read(), read()]);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // A few more rounds, all of which must read with the refreshed credentials.
      for (let round = 0; round < 3; round++) await Promise.all([read(), read(), read(), read()]);
    } else {
      for (let i = 0; i < 8; i++) await read();
    }
  } finally {
    await b.close();
  }
  for (const q of stub.requests().slice(seenBefore)) {
    const key = /Credential=([^/]+)\//.exec(String(q.headers.authorization))?.[1] ?? 'none';
    if (r.keys.at(-1) !== key) r.keys.push(key);
  }
  r.stsCalls = stsCalls - stsBefore;
  r.lookups = [...new Set(lookups)];
  out[client] = r;
}
await stub.close();
await new Promise<void>((resolve) => sts.close(() => resolve()));
console.log(JSON.stringify(out));

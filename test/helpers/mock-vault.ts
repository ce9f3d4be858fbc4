/**
 * A small HashiCorp Vault transit emulator for tests: a real HTTP(S) server on 127.0.0.1 that
 * answers the calls readpath makes to unwrap data keys (and the ones tests make to wrap them):
 *
 * - `POST /v1/{mount}/encrypt/{key}` `{plaintext: base64}` → `{data: {ciphertext: "vault:vN:..."}}`
 * - `POST /v1/{mount}/decrypt/{key}` `{ciphertext}` → `{data: {plaintext: base64}}`
 * - `POST /v1/auth/token/renew-self` → `{auth: {client_token, lease_duration, renewable}}`
 *
 * As Vault does: every request needs `X-Vault-Token` (else 403 `permission denied`); errors are
 * `{errors: [...]}`; a malformed or foreign ciphertext is 400. Unlike Vault, an unknown mount or
 * key is 400 too (Vault would 403/404 or upsert the key), which is all a reader needs to know.
 *
 * The ciphertext after `vault:vN:` is base64 of nonce (12) | AES-256-GCM | tag (16) under a
 * per-key, per-version key held here, so it is opaque to readpath, as Vault's is. Faults
 * (`failNext`), latency (`delayMs`), token changes (`setToken`) and key rotation (`rotate`)
 * can be injected at runtime; every request is recorded.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { selfSigned } from './self-signed.js';

/** Options for {@link startMockVault}. */
export interface MockVaultOptions {
  /** The accepted `X-Vault-Token`; default `test-vault-token`. */
  token?: string;
  /** Transit keys served, as `mount/name` (the mount may contain `/`); default `['transit/readpath']`. */
  keys?: string[];
  /** Milliseconds to wait before answering each request; default 0. */
  delayMs?: number;
  /** `lease_duration` answered by renew-self; default 3600. */
  leaseDuration?: number;
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1 and localhost made at start. */
  tls?: boolean;
}

/** One request the mock answered. */
export interface VaultRequest {
  method: string;
  /** The URL path (query string removed). */
  path: string;
  /** The `X-Vault-Token` header as sent, if any. */
  token: string | undefined;
  status: number;
  /** The parsed JSON body, if it parsed. */
  body: unknown;
}

/** A running mock Vault; see {@link startMockVault}. */
export interface MockVault {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (or `https://...` with `tls`). */
  readonly address: string;
  /** PEM of the self-signed certificate (its own CA), with `tls` only. */
  readonly caCertPem: string | undefined;
  /** A file holding {@link caCertPem}, for `vault.ca_cert`; removed by `close()`. */
  readonly caCertFile: string | undefined;
  /** Every request answered, oldest first. */
  readonly requests: VaultRequest[];
  /** Latency added to each answer; may be changed at any time. */
  delayMs: number;
  /** The token currently accepted. */
  readonly token: string;
  /** Accept `token` from now on (the old one then gets 403), e.g. to test token-file reloads. */
  setToken(token: string): void;
  /** Answer the next `n` requests (default 1), whatever they are, with `status` and an error body. */
  failNext(status: number, n?: number): void;
  /** Adds a new version of `key` (`mount/name`); encrypt then uses it, decrypt accepts all versions. */
  rotate(key?: string): number;
  /** The Vault ciphertext (`vault:vN:...`) of `plaintext` under `key`, without HTTP. */
  wrap(plaintext: Uint8Array, key?: string): string;
  /** Decrypts a Vault ciphertext of `key` without HTTP; throws on a bad one. */
  unwrap(ciphertext: string, key?: string): Buffer;
  /** Upstream's `key_id` for `key`: `vault:<mount>/<name>`. */
  keyId(key?: string): string;
  /** Stops the server, drops open connections and removes the TLS temp files. */
  close(): Promise<void>;
}

const DEFAULT_KEY = 'transit/readpath';
const MAX_BODY = 1 << 20;
const NONCE = 12;
const TAG = 16;

class VaultError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Per-key key versions, 1-based like Vault's (`versions[0]` is v1). */
type KeyRing = Map<string, Buffer[]>;

function seal(ring: KeyRing, key: string, plaintext: Uint8Array): string {
  const versions = ring.get(key);
  if (!versions) throw new VaultError(400, `encryption key not found: ${key}`);
  const version = versions.length;
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', versions[version - 1]!, nonce);
  const blob = Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
  return `vault:v${version}:${blob.toString('base64')}`;
}

const CIPHERTEXT = /^vault:v([1-9][0-9]*):([A-Za-z0-9+/]*={0,2})$/;

function open(ring: KeyRing, key: string, ciphertext: string): Buffer {
  const versions = ring.get(key);
  if (!versions) throw new VaultError(400, `encryption key not found: ${key}`);
  const m = CIPHERTEXT.exec(ciphertext);
  if (!m || m[2]!.length % 4 !== 0) throw new VaultError(400, 'invalid ciphertext: no prefix or malformed base64');
  const secret = versions[Number(m[1]) - 1];
  if (!secret) throw new VaultError(400, 'invalid ciphertext: key version not found');
  const blob = Buffer.from(m[2]!, 'base64');
  if (blob.length < NONCE + TAG) throw new VaultError(400, 'invalid ciphertext: too short');
  try {
    const d = createDecipheriv('aes-256-gcm', secret, blob.subarray(0, NONCE));
    d.setAuthTag(blob.subarray(blob.length - TAG));
    return Buffer.concat([d.update(blob.subarray(NONCE, blob.length - TAG)), d.final()]);
  } catch {
    throw new VaultError(400, 'cipher: message authentication failed');
  }
}

/** Strict base64 (Buffer.from would silently skip garbage characters). */
function decodeBase64(s: unknown, field: string): Buffer {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new VaultError(400, `illegal base64 data in ${field}`);
  }
  return Buffer.from(s, 'base64');
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > MAX_BODY) throw new VaultError(413, 'request body too large');
    parts.push(part);
  }
  const text = Buffer.concat(parts).toString('utf8');
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new VaultError(400, `failed to parse JSON input: ${(e as Error).message}`);
  }
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

/** Vault's response envelope, so clients that look at more than `data`/`auth` still parse it. */
function envelope(parts: { data?: unknown; auth?: unknown }): Record<string, unknown> {
  return {
    request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0,
    data: parts.data ?? null, wrap_info: null, warnings: null, auth: parts.auth ?? null,
  };
}

/** Starts a mock Vault on 127.0.0.1 on a free port. */
export async function startMockVault(opts: MockVaultOptions = {}): Promise<MockVault> {
  let token = opts.token ?? 'test-vault-token';
  const leaseDuration = opts.leaseDuration ?? 3600;
  const ring: KeyRing = new Map((opts.keys ?? [DEFAULT_KEY]).map((k) => [k, [randomBytes(32)]]));
  const requests: VaultRequest[] = [];
  const faults: { status: number; left: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const tls = opts.tls ? await selfSigned('mock-vault') : undefined;

  const answer = async (req: http.IncomingMessage): Promise<{ status: number; body: unknown; json: unknown }> => {
    let body: unknown;
    try {
      body = await readJson(req);
      const fault = faults[0];
      if (fault) {
        // Faults come first: a sealed or overloaded Vault fails before looking at the token.
        if (--fault.left <= 0) faults.shift();
        throw new VaultError(fault.status, `injected fault (HTTP ${fault.status})`);
      }
      const sent = req.headers['x-vault-token'];
      if (sent !== token) throw new VaultError(403, 'permission denied');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/v1/auth/token/renew-self') {
        if (req.method !== 'POST' && req.method !== 'PUT') throw new VaultError(405, `unsupported operation ${req.method ?? ''}`);
        return {
          status: 200, body,
          json: envelope({ auth: { client_token: token, accessor: 'mock', policies: ['default'], lease_duration: leaseDuration, renewable: true } }),
        };
      }
      const m = /^\/v1\/(.+)\/(encrypt|decrypt)\/([^/]+)$/.exec(path);
      if (!m) throw new VaultError(404, `no handler for route "${path}"`);
      if (req.method !== 'POST' && req.method !== 'PUT') throw new VaultError(405, `unsupported operation ${req.method ?? ''}`);
      const key = `${m[1]!}/${m[3]!}`;
      if (m[2] === 'encrypt') {
        const ciphertext = seal(ring, key, decodeBase64(field(body, 'plaintext'), 'plaintext'));
        return { status: 200, body, json: envelope({ data: { ciphertext, key_version: ring.get(key)!.length } }) };
      }
      const ciphertext = field(body, 'ciphertext');
      if (typeof ciphertext !== 'string') throw new VaultError(400, 'missing ciphertext to decrypt');
      return { status: 200, body, json: envelope({ data: { plaintext: open(ring, key, ciphertext).toString('base64') } }) };
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      return { status: e.status, body, json: { errors: [e.message] } };
    }
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void answer(req).then(
      (a) => {
        requests.push({
          method: req.method ?? '', path: new URL(req.url ?? '/', 'http://x').pathname,
          token: typeof req.headers['x-vault-token'] === 'string' ? req.headers['x-vault-token'] : undefined,
          status: a.status, body: a.body,
        });
        const send = (): void => {
          const text = JSON.stringify(a.json);
          res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        };
        if (vault.delayMs <= 0) return send();
        const t = setTimeout(() => { timers.delete(t); send(); }, vault.delayMs);
        timers.add(t);
      },
      (e: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [String(e)] }));
      },
    );
  };

  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  // With TLS, 'connection' sees the raw TCP sockets, which is what close() must destroy.
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const { port } = server.address() as AddressInfo;

  const ringKey = (key: string | undefined): string => {
    const k = key ?? [...ring.keys()][0]!;
    if (!ring.has(k)) throw new Error(`mock Vault has no key ${k}`);
    return k;
  };

  const vault: MockVault = {
    address: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    caCertPem: tls?.cert,
    caCertFile: tls?.certFile,
    requests,
    delayMs: opts.delayMs ?? 0,
    get token() { return token; },
    setToken(t) { token = t; },
    failNext(status, n = 1) { if (n > 0) faults.push({ status, left: n }); },
    rotate(key) {
      const versions = ring.get(ringKey(key))!;
      versions.push(randomBytes(32));
      return versions.length;
    },
    wrap(plaintext, key) { return seal(ring, ringKey(key), plaintext); },
    unwrap(ciphertext, key) { return open(ring, ringKey(key), ciphertext); },
    keyId(key) { return `vault:${ringKey(key)}`; },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await closed;
      if (tls) await rm(tls.dir, { recursive: true, force: true });
    },
  };
  return vault;
}

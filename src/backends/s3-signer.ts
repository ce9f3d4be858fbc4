/**
 * SigV4 request signing for the lean S3 transport, with `@smithy/signature-v4` (the signer the
 * AWS SDK itself uses) over `node:crypto`.
 *
 * The signer caches derived signing keys per day, region, service and credentials (a module-wide
 * cache of 50 keys inside @smithy/signature-v4), so once warm a request costs three HMAC/SHA-256
 * operations: the credentials' cache key, the canonical request's hash and the signature. The
 * path is signed as given (`uriEscapePath: false`): S3 wants the once-encoded key
 * (s3-address.ts), and the payload is `UNSIGNED-PAYLOAD` (GET and HEAD carry none).
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { SignatureV4 } from '@smithy/signature-v4';
import type { S3Address } from './s3-address.js';
import type { S3Credentials } from './s3-backend.js';
import type { LeanS3Deps } from './lean-s3-deps.js';

/** The header S3 reads the payload hash from; GET/HEAD send no payload. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer | string {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * SHA-256 (or HMAC-SHA-256 when given a secret) over node:crypto, in the shape of the SDK's
 * `Checksum` constructors (`@smithy/hash-node`'s `Hash`, without its extra dependencies).
 */
export class NodeSha256 {
  readonly #secret: Buffer | string | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : toBuffer(secret);
    this.#hash = this.#make();
  }

  #make(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }

  update(data: SourceData): void {
    this.#hash.update(toBuffer(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest());
  }

  reset(): void {
    this.#hash = this.#make();
  }
}

/** Signs S3 GET/HEAD requests for one backend. */
export class S3Signer {
  readonly #signer: SignatureV4;
  readonly #address: S3Address;

  constructor(deps: LeanS3Deps, address: S3Address, region: string, credentials: () => Promise<S3Credentials>) {
    this.#address = address;
    this.#signer = new deps.SignatureV4({
      service: 's3',
      region,
      credentials,
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  /**
   * Sign a request: returns `headers` plus `x-amz-date`, `authorization` and, with session
   * credentials, `x-amz-security-token`. `headers` must hold `host` and
   * `x-amz-content-sha256`; everything in it is signed.
   */
  async sign(method: string, path: string, headers: Record<string, string>, signingDate?: Date): Promise<Record<string, string>> {
    const a = this.#address;
    const signed = await this.#signer.sign(
      { method, protocol: a.protocol, hostname: a.hostname, port: a.port, path, query: {}, headers },
      signingDate !== undefined ? { signingDate } : {},
    );
    return signed.headers;
  }
}

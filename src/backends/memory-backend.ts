/**
 * An in-memory backend, for tests, benchmarks and embedding. Missing keys answer like S3 does:
 * a BACKEND_ERROR with backendStatus 404.
 */
import { Readable } from 'node:stream';
import { digestHex } from '../probe/digest.js';
import { ReadPathError, abortedError } from '../errors.js';
import type { BackendGetOptions, BackendListOptions, BackendListPage, GetResult, HeadResult, ObjectBackend } from '../types.js';
import { endsBeforeStart, parseRange, selectRange } from '../ranges/byte-range.js';

interface StoredObject {
  bytes: Uint8Array;
  etag: string;
  contentType?: string;
  metadata?: Record<string, string>;
  lastModified: Date;
}

/** Optional metadata for {@link MemoryBackend.put}. */
export interface MemoryObjectMeta {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Default: now. */
  lastModified?: Date;
}

/** S3's key order: by UTF-8 bytes. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The bytes an HTTP `Range` header selects of an object of `size` bytes, as S3 reads it
 * (ranges/byte-range.ts); undefined when it is unsatisfiable or not one range.
 */
export function parseByteRange(range: string, size: number): { start: number; end: number } | undefined {
  const r = parseRange(range);
  return r === undefined || endsBeforeStart(r) ? undefined : selectRange(r, size);
}

/** An S3-like backend that keeps objects in memory. */
export class MemoryBackend implements ObjectBackend {
  readonly name: string;
  readonly #objects = new Map<string, StoredObject>();
  /** Calls made, by kind: tests read these. */
  readonly calls = { head: 0, get: 0, list: 0 };

  constructor(name: string) {
    this.name = name;
  }

  /** Store an object (replacing any previous one). */
  put(key: string, bytes: Uint8Array | string, meta?: MemoryObjectMeta): void {
    const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
    const obj: StoredObject = {
      bytes: data,
      etag: `"${digestHex('md5', data)}"`,
      lastModified: meta?.lastModified ?? new Date(),
    };
    if (meta?.contentType !== undefined) obj.contentType = meta.contentType;
    if (meta?.metadata !== undefined) obj.metadata = { ...meta.metadata };
    this.#objects.set(key, obj);
  }

  /** Remove an object; true when it existed. */
  delete(key: string): boolean {
    return this.#objects.delete(key);
  }

  /** True when the key is stored. */
  has(key: string): boolean {
    return this.#objects.has(key);
  }

  #lookup(key: string, signal: AbortSignal | undefined): StoredObject {
    if (signal?.aborted) throw abortedError(signal);
    const obj = this.#objects.get(key);
    if (obj === undefined) {
      throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
    }
    return obj;
  }

  #head(obj: StoredObject, size: number): HeadResult {
    const h: HeadResult = { size, etag: obj.etag, lastModified: obj.lastModified };
    if (obj.contentType !== undefined) h.contentType = obj.contentType;
    if (obj.metadata !== undefined) h.metadata = { ...obj.metadata };
    return h;
  }

  async head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    this.calls.head++;
    const obj = this.#lookup(key, opts?.signal);
    return this.#head(obj, obj.bytes.byteLength);
  }

  /** A page of keys under `prefix` in UTF-8 byte order; the continuation token is the last key. */
  async list(opts: BackendListOptions): Promise<BackendListPage> {
    this.calls.list++;
    if (opts.signal?.aborted) throw abortedError(opts.signal);
    const after = opts.continuationToken ?? opts.startAfter;
    const keys = [...this.#objects.keys()]
      .filter((k) => k.startsWith(opts.prefix) && (after === undefined || compareUtf8(k, after) > 0))
      .sort(compareUtf8);
    const max = opts.maxKeys ?? 1000;
    const page = keys.slice(0, max);
    const objects = page.map((key) => {
      const o = this.#objects.get(key) as StoredObject;
      return { key, size: o.bytes.byteLength, lastModified: o.lastModified, etag: o.etag };
    });
    const truncated = keys.length > max;
    return truncated ? { objects, truncated, nextToken: page.at(-1) as string } : { objects, truncated };
  }

  async get(key: string, opts?: BackendGetOptions): Promise<GetResult> {
    this.calls.get++;
    const obj = this.#lookup(key, opts?.signal);
    // If-Match as S3 answers it: a copy whose ETag differs refuses with 412.
    if (opts?.ifMatch !== undefined && opts.ifMatch !== obj.etag && opts.ifMatch !== '*') {
      throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: PreconditionFailed (If-Match ${opts.ifMatch})`, { backendStatus: 412 });
    }
    let bytes = obj.bytes;
    if (opts?.range !== undefined) {
      const r = parseByteRange(opts.range, bytes.byteLength);
      if (r === undefined) {
        throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: InvalidRange ${opts.range}`, { backendStatus: 416 });
      }
      bytes = bytes.subarray(r.start, r.end + 1);
    }
    const res: GetResult = { ...this.#head(obj, bytes.byteLength), body: Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)], { objectMode: false }) };
    if (opts?.range !== undefined) res.totalSize = obj.bytes.byteLength;
    return res;
  }
}

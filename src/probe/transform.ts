/**
 * User transforms: an ESM module whose default export turns a verified body into what the
 * caller wants (decompress, parse, filter). In the pool they run inside the worker, so the main
 * thread receives finished records; inline they run on the calling thread with the same rules.
 *
 * Error codes, chosen so the failover does the useful thing:
 * - the module cannot be loaded or has no default function: `INVALID_CONFIG` (a setup error;
 *   every copy will fail the same way and the read reports it);
 * - the function throws or rejects: `TRANSFORM_FAILED` whose message is the module's, prefixed with
 *   the transform and key. The read moves on to the next copy, which matters when the body was
 *   unverified (no content_hash) and this copy is the corrupt one; when every copy fails, the
 *   read's error is the last copy's, carrying the module's message.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReadPathError, messageOf } from '../errors.js';

/**
 * `import(url)`, with a fallback for TypeScript sources under tsx in worker threads: on Node 20
 * a worker does not get the `--import` loader hooks (fixed in Node 22.2), only tsx's require
 * hook, so a `.ts` module (or a `.js` specifier naming one) is loaded with require there.
 */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const tsSource = code === 'ERR_UNKNOWN_FILE_EXTENSION' || (code === 'ERR_MODULE_NOT_FOUND' && url.endsWith('.js'));
    if (!tsSource || !url.startsWith('file:')) throw err;
    try {
      return createRequire(import.meta.url)(fileURLToPath(url)) as Record<string, unknown>;
    } catch {
      throw err;
    }
  }
}

/** What a transform is told about the body it receives. */
export interface TransformInfo {
  key: string;
  backend: string;
  /** Bytes in the body handed over. */
  size: number;
  etag?: string;
  contentType?: string;
  lastModified?: Date;
  metadata?: Record<string, string>;
  /** True when the body matched the stored content_hash. */
  verified: boolean;
  range?: string;
}

/**
 * A transform module's default export. Its result must survive structured clone when it runs in
 * the pool (plain objects, arrays, strings, numbers, Dates, Maps, typed arrays; no functions).
 * A `Uint8Array` result is transferred, not copied.
 */
export type TransformFn = (bytes: Uint8Array, info: TransformInfo) => unknown;

const cache = new Map<string, Promise<TransformFn>>();

/**
 * The file: URL a transform specifier names. Absolute paths and file: URLs are kept; relative
 * paths resolve against the current working directory.
 */
export function transformUrl(spec: string | URL): string {
  if (spec instanceof URL) return spec.href;
  if (typeof spec !== 'string' || spec === '') {
    throw new ReadPathError('INVALID_CONFIG', 'transform: must be a module path or file: URL');
  }
  if (spec.startsWith('file:')) return new URL(spec).href;
  return pathToFileURL(path.resolve(spec)).href;
}

/** Load (once per URL and thread) a transform module's default export. */
export function loadTransform(url: string): Promise<TransformFn> {
  let p = cache.get(url);
  if (p === undefined) {
    p = importModule(url).then(
      (mod) => {
        if (typeof mod.default !== 'function') {
          throw new ReadPathError('INVALID_CONFIG', `transform ${url}: the module has no default export function`);
        }
        return mod.default as TransformFn;
      },
      (err: unknown) => {
        throw new ReadPathError('INVALID_CONFIG', `transform ${url}: cannot load the module: ${messageOf(err)}`, { cause: err });
      },
    );
    // A failed load is not cached: the file may be fixed while the process runs.
    p.catch(() => cache.delete(url));
    cache.set(url, p);
  }
  return p;
}

/** Run the transform at `url` on `bytes`; rejects with the coded errors described above. */
export async function runTransform(url: string, bytes: Uint8Array, info: TransformInfo): Promise<unknown> {
  const fn = await loadTransform(url);
  try {
    return await fn(bytes, info);
  } catch (err) {
    throw new ReadPathError('TRANSFORM_FAILED', `transform ${path.basename(new URL(url).pathname)} failed on ${info.backend}: ${JSON.stringify(info.key)}: ${messageOf(err)}`, { cause: err });
  }
}

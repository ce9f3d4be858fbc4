/**
 * Where a backend holds an object's latest write when no row says (degraded mode). Since its
 * storage keys, s3-orchestrator stores each write under a path of its own, `{key}!{id}` with a
 * 32-character lowercase hex id, and records the path on the row; objects written before that
 * are at the key itself. Without the database, each backend is asked for a listing under the
 * key, and the newest of the bare key and its well-formed copies is read — as upstream reads
 * degraded — never another object that merely shares the name as a prefix (`key!backup`,
 * `key.bak`, `key/child`).
 *
 * In S3's order the candidates come first under the prefix: `!` sorts before every printable
 * character but the space, so a short page nearly always holds them all, and pages are followed
 * only while they may still hold one.
 */
import { ReadPathError, backendStatusOf } from '../errors.js';
import type { BackendListedObject, BackendListPage, ObjectBackend } from '../types.js';
import { isBilledFailure } from './billing.js';

/** A per-write copy's id, as upstream makes them. */
const COPY_ID = /^[0-9a-f]{32}$/;
/** Keys asked for a page. */
const PAGE_KEYS = 100;
/** A listing refused for good (forbidden, not allowed, not implemented): the key is read instead. */
const NOT_LISTABLE: ReadonlySet<number> = new Set([403, 405, 501]);
/** Pages followed at most (a key with that many near-namesakes before its copies is read at the candidates seen). */
const MAX_PAGES = 10;

/** Whether `listed` is `key` itself or one of its per-write copies. */
export function isCopyOf(key: string, listed: string): boolean {
  return listed === key || (listed.length === key.length + 33 && listed.startsWith(key) && listed[key.length] === '!' && COPY_ID.test(listed.slice(key.length + 1)));
}

/**
 * The newest of `candidates` (by Last-Modified; a copy over the bare key at the same time — it is
 * the later way of writing — and between copies the greater id, so every reader picks the same).
 */
export function newestCopy(key: string, candidates: readonly BackendListedObject[]): BackendListedObject | undefined {
  let best: BackendListedObject | undefined;
  for (const c of candidates) {
    if (best === undefined) {
      best = c;
      continue;
    }
    const a = c.lastModified?.getTime() ?? 0;
    const b = best.lastModified?.getTime() ?? 0;
    if (a > b || (a === b && (best.key === key || (c.key !== key && c.key > best.key)))) best = c;
  }
  return best;
}

/**
 * The key `backend` holds `key`'s latest write at: the object key itself when the backend cannot
 * list (no list(), or a listing refused with 403, 405 or 501). Throws BACKEND_ERROR with
 * backendStatus 404 when neither the key nor a copy is there (the backend's own answer for a
 * missing object), or the listing's failure. `onRequest` is called for each listing request the
 * backend bills (answered, or failed after it was sent).
 */
export async function storedKeyOf(backend: ObjectBackend, key: string, signal?: AbortSignal, onRequest: () => void = () => {}, since?: number): Promise<string> {
  if (backend.list === undefined) return key;
  const candidates: BackendListedObject[] = [];
  // Past every copy of key: key + '!' + 'f' * 32 is the greatest; the next character after '!' is '"'.
  const beyond = `${key}"`;
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    let p: BackendListPage;
    try {
      p = await backend.list({ prefix: key, maxKeys: PAGE_KEYS, ...(signal === undefined ? {} : { signal }), ...(since === undefined ? {} : { since }), ...(token === undefined ? {} : { continuationToken: token }) });
    } catch (err) {
      if (isBilledFailure(err)) onRequest();
      // Credentials that may read but not list (no s3:ListBucket), or a server without
      // ListObjectsV2: read the key itself, as before storage keys, rather than not at all.
      if (page === 0 && NOT_LISTABLE.has(backendStatusOf(err) ?? 0)) return key;
      throw err;
    }
    onRequest();
    for (const o of p.objects) if (isCopyOf(key, o.key)) candidates.push(o);
    const last = p.objects.at(-1)?.key;
    if (!p.truncated || p.nextToken === undefined || last === undefined || last >= beyond) break;
    token = p.nextToken;
  }
  const newest = newestCopy(key, candidates);
  if (newest === undefined) {
    throw new ReadPathError('BACKEND_ERROR', `${backend.name}: ${JSON.stringify(key)}: not found (neither the key nor a copy of it, {key}!{id}, is listed)`, { backendStatus: 404 });
  }
  return newest.key;
}

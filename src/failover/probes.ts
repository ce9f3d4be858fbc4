/**
 * The built-in probes: HEAD and GET one copy, with the usage checks upstream makes (API
 * requests before the call, egress for the returned size after a GET) and SHA-256
 * verification before a copy may win. A body that fails its check is never returned.
 */
import { createHash } from 'node:crypto';
import { ReadPathError, UsageLimitSkipError, abortedError, backendStatusOf, hasCode } from '../errors.js';
import { collectBody, discardBody } from '../backend/body.js';
import type { Recorder } from '../accounting/recorder.js';
import type { HeadResult, Probe, ProbeRequest, ProbeResult } from '../types.js';

/** A fetched object: the HEAD fields and the whole body, verified when a hash was known. */
export interface FetchedObject extends HeadResult {
  body: Uint8Array;
  /** True when the body matched the location's content_hash. */
  verified: boolean;
}

/** Options of {@link getProbe}. */
export interface GetProbeOptions {
  range?: string;
  /** Verify the body against the location's content_hash (default true). */
  verify?: boolean;
  /** With `verify`, and no content_hash to check: check a plain-MD5 ETag (default true). */
  verifyEtag?: boolean;
}

function declineIfOver(acct: Recorder, name: string, api: number, egress: number): void {
  const limit = acct.exceededLimit(name, api, egress, 0);
  if (limit !== undefined) throw new UsageLimitSkipError(name, { limit });
}

/**
 * Whether a failed backend call still cost an API request. A request that was sent is billed
 * by the provider whether it answered an error, timed out, or was cancelled as a broadcast
 * loser; only calls that never left readpath (a breaker's rejection, a declined copy, bad
 * input, a signal already aborted) are free. Counting a cancelled loser keeps parallel
 * broadcasts honest against free-tier request limits; when in doubt this over-counts, the
 * safe side of a limit. Shared by the inline probes and the pool's probe actors.
 */
export function isBilledFailure(err: unknown): boolean {
  if (backendStatusOf(err) !== undefined) return true;
  if (hasCode(err, 'BACKEND_UNAVAILABLE') || hasCode(err, 'USAGE_LIMIT_SKIP') || hasCode(err, 'INVALID_KEY') || hasCode(err, 'SERVICE_UNAVAILABLE')) return false;
  return !neverConnected(err);
}

// Socket errors that mean no connection was made, so no request reached the provider.
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function neverConnected(err: unknown): boolean {
  let cur: unknown = err;
  for (let depth = 0; depth < 16 && cur !== null && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_CONNECTED.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

function recordFailedCall(acct: Recorder, name: string, err: unknown): void {
  if (isBilledFailure(err)) acct.record(name, 1, 0, 0);
}

/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// A single-part upload's ETag is the MD5 of the object: quoted 32 hex digits, no `-N` suffix.
const MD5_ETAG = /^"?([0-9a-fA-F]{32})"?$/;

/**
 * Check a body before its copy may win. With the location's content_hash: SHA-256, returning
 * true when it matches. Without one (NULL column, degraded mode) and given the backend's
 * ETag: when that ETag is a plain MD5, the body must match it (a copy damaged at rest keeps
 * the ETag of what was written), returning false since nothing was checked against
 * content_hash. Throws INTEGRITY_MISMATCH on a mismatch.
 */
export function verifyBody(req: Pick<ProbeRequest, 'backendName' | 'location'>, key: string, body: Uint8Array, etag?: string): boolean {
  const expected = req.location?.contentHash;
  if (expected === undefined || expected === null || expected === '') {
    const md5 = etag === undefined ? null : MD5_ETAG.exec(etag);
    if (md5 !== null && md5[1] !== undefined) {
      const actual = createHash('md5').update(body).digest('hex');
      if (actual !== md5[1].toLowerCase()) {
        throw new ReadPathError('INTEGRITY_MISMATCH', `${req.backendName}: ${key}: body MD5 ${actual} does not match the backend's ETag ${etag ?? ''}`);
      }
    }
    return false;
  }
  const actual = sha256Hex(body);
  if (actual !== expected.toLowerCase()) {
    throw new ReadPathError('INTEGRITY_MISMATCH', `${req.backendName}: ${key}: body hash ${actual} does not match stored ${expected}`);
  }
  return true;
}

/**
 * readpath does not hold s3-orchestrator's key provider, so it cannot decrypt envelope-encrypted
 * copies; serving ciphertext as the object would be wrong. 503, as upstream answers for
 * encrypted objects it cannot decrypt; no backend is called.
 */
export function encryptedUnsupported(key: string): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', `${key} is stored encrypted; readpath cannot decrypt s3-orchestrator's envelope encryption`);
}

/**
 * A probe's result, as a plain object built without an object literal. A literal's allocation
 * site is one V8 may pretenure (allocate in old space) once it sees its objects outlive a
 * young-generation GC; a pretenured result that dies then holds the body it points to past
 * every scavenge until the next full GC. See bench/RESULTS.md, Soak.
 */
function probeResult<T>(size: number, value: T): ProbeResult<T> {
  const r = {} as ProbeResult<T>;
  r.size = size;
  r.value = value;
  return r;
}

/** A HEAD probe for `key`. */
export function headProbe(acct: Recorder, key: string): Probe<HeadResult> {
  return async (req) => {
    declineIfOver(acct, req.backendName, 1, 0);
    if (req.signal.aborted) throw abortedError(req.signal);
    let h: HeadResult;
    try {
      h = await req.backend.head(key, { signal: req.signal });
    } catch (err) {
      recordFailedCall(acct, req.backendName, err);
      throw err;
    }
    acct.record(req.backendName, 1, 0, 0);
    // An encrypted copy's stored size is the ciphertext's; callers want the object's own.
    const plain = req.location?.encrypted === true ? req.location.plaintextSize : undefined;
    if (plain !== undefined && plain !== null) h = { ...h, size: plain };
    return probeResult(h.size, h);
  };
}

/** A GET probe for `key` that reads the whole body and verifies it before the copy may win. */
export function getProbe(acct: Recorder, key: string, opts: GetProbeOptions = {}): Probe<FetchedObject> {
  const verify = opts.verify ?? true;
  const verifyEtag = opts.verifyEtag ?? true;
  const range = opts.range;
  return async (req) => {
    const name = req.backendName;
    if (req.location?.encrypted === true) throw encryptedUnsupported(key);
    declineIfOver(acct, name, 1, 0);
    if (req.signal.aborted) throw abortedError(req.signal);
    let res;
    try {
      res = await req.backend.get(key, range === undefined ? { signal: req.signal } : { signal: req.signal, range });
    } catch (err) {
      recordFailedCall(acct, name, err);
      throw err;
    }
    const limit = acct.exceededLimit(name, 1, res.size, 0);
    if (limit !== undefined) {
      discardBody(res);
      acct.record(name, 1, 0, 0);
      throw new UsageLimitSkipError(name, { limit });
    }
    let body: Uint8Array;
    try {
      // size -1 = no Content-Length: nothing to check the length against.
      body = await collectBody(res.body, { signal: req.signal, expectedSize: res.size });
    } catch (err) {
      acct.record(name, 1, 0, 0);
      throw err;
    }
    acct.record(name, 1, body.byteLength, 0);
    const verified = verify && range === undefined ? verifyBody(req, key, body, verifyEtag ? res.etag : undefined) : false;
    const { body: _stream, ...head } = res;
    return probeResult(body.byteLength, Object.assign(head, { body, verified }));
  };
}

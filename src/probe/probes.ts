/**
 * The built-in probes: HEAD and GET one copy, with the usage checks upstream makes (API
 * requests before the call, egress for the returned size after a GET) and SHA-256
 * verification before a copy may win. A body that fails its check is never returned.
 * For a backend with limits the checks reserve, as the pool's do, so concurrent reads cannot
 * overshoot a limit by the number in flight.
 */
import { digestHex } from './digest.js';
import { ReadPathError, UsageLimitSkipError, abortedError, backendStatusOf, hasCode } from '../errors.js';
import { collectBody, discardBody } from '../backends/body.js';
import type { Recorder } from '../telemetry/recorder.js';
import { UsageLedger } from '../policies/usage-ledger.js';
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

// One ledger per Recorder: every inline probe of a reader reserves against the same counts.
const inlineLedgers = new WeakMap<Recorder, UsageLedger>();
let nextCallId = 0;

function ledgerOf(acct: Recorder): UsageLedger {
  let ledger = inlineLedgers.get(acct);
  if (ledger === undefined) {
    ledger = new UsageLedger(acct);
    inlineLedgers.set(acct, ledger);
  }
  return ledger;
}

/*
 * One backend call's usage, as a reservation id: 0 for a backend without limits (one Map
 * lookup, nothing reserved, usage recorded at settle; no object per call on the hot path).
 * For a backend with limits, `reserveCall` reserves the API request (USAGE_LIMIT_SKIP when
 * that would exceed a limit), `reserveCallEgress` the announced body size, and `settleCall`
 * (exactly once per call) releases both and records what was used.
 */
function reserveCall(acct: Recorder, name: string): number {
  if (!acct.usage.hasLimits(name)) return 0;
  const limit = ledgerOf(acct).reserveApi(name);
  if (limit !== undefined) throw new UsageLimitSkipError(name, { limit });
  return ++nextCallId;
}

function reserveCallEgress(acct: Recorder, name: string, id: number, bytes: number): void {
  if (id === 0) return;
  const limit = ledgerOf(acct).reserveEgress(id, name, Math.max(0, bytes));
  if (limit !== null) throw new UsageLimitSkipError(name, { limit });
}

function settleCall(acct: Recorder, name: string, id: number, api: number, egress: number): void {
  if (id !== 0) ledgerOf(acct).settle(id, name, true, api, egress);
  else if (api !== 0 || egress !== 0) acct.record(name, api, egress, 0);
}

/** A failed call cost a request only if one was sent. */
function settleFailedCall(acct: Recorder, name: string, id: number, err: unknown): void {
  settleCall(acct, name, id, isBilledFailure(err) ? 1 : 0, 0);
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


/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return digestHex('sha256', bytes);
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
      const actual = digestHex('md5', body);
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
    if (req.signal.aborted) throw abortedError(req.signal);
    const name = req.backendName;
    const id = reserveCall(acct, name);
    let h: HeadResult;
    try {
      h = await req.backend.head(key, { signal: req.signal });
    } catch (err) {
      settleFailedCall(acct, name, id, err);
      throw err;
    }
    settleCall(acct, name, id, 1, 0);
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
    if (req.location?.encrypted === true) throw encryptedUnsupported(key);
    if (req.signal.aborted) throw abortedError(req.signal);
    const name = req.backendName;
    const id = reserveCall(acct, name);
    let res;
    try {
      res = await req.backend.get(key, range === undefined ? { signal: req.signal } : { signal: req.signal, range });
    } catch (err) {
      settleFailedCall(acct, name, id, err);
      throw err;
    }
    try {
      reserveCallEgress(acct, name, id, res.size);
    } catch (err) {
      discardBody(res);
      settleCall(acct, name, id, 1, 0);
      throw err;
    }
    let body: Uint8Array;
    try {
      // size -1 = no Content-Length: nothing to check the length against.
      body = await collectBody(res.body, { signal: req.signal, expectedSize: res.size });
    } catch (err) {
      settleCall(acct, name, id, 1, 0);
      throw err;
    }
    settleCall(acct, name, id, 1, body.byteLength);
    const verified = verify && range === undefined ? verifyBody(req, key, body, verifyEtag ? res.etag : undefined) : false;
    const { body: _stream, ...head } = res;
    return probeResult(body.byteLength, Object.assign(head, { body, verified }));
  };
}

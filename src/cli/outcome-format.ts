/**
 * How outcomes are printed: NDJSON records for machines (never the body) and one text line per
 * key for people.
 */
import type { BatchOutcome, GetOutcome, HeadOutcome } from '../read-path.js';
import type { Scrubber } from './errors.js';

/** A failure the CLI itself reports for a key (a key file line that cannot be a key, a write that failed). */
export interface CliFailure {
  key: string;
  ok: false;
  error: { code: string; message: string; httpStatus: number; backendStatus?: number };
}

/** Any per-key outcome the batch command prints. */
export type PrintedOutcome = BatchOutcome | CliFailure;

/** Extra fields of a printed outcome. */
export interface OutcomeExtra {
  /** Latency of this key in ms, from when it was handed to the reader. */
  ms?: number;
  /** With --out DIR: the file written, relative to DIR. */
  path?: string;
}

/** The fields of a HEAD or GET success, without the body, in a stable order. */
export function successFields(o: HeadOutcome | GetOutcome): Record<string, unknown> {
  const rec: Record<string, unknown> = { key: o.key, backend: o.backend, size: o.size };
  if ('verified' in o) rec['verified'] = o.verified;
  rec['failover'] = o.failover;
  rec['degraded'] = o.degraded;
  if (o.contentSha256 !== undefined) rec['sha256'] = o.contentSha256;
  if (o.etag !== undefined) rec['etag'] = o.etag;
  if (o.contentType !== undefined) rec['contentType'] = o.contentType;
  if (o.lastModified !== undefined) rec['lastModified'] = o.lastModified instanceof Date ? o.lastModified.toISOString() : o.lastModified;
  if (o.metadata !== undefined && Object.keys(o.metadata).length > 0) rec['metadata'] = o.metadata;
  // Degraded: where the copy was found, and whether it was decoded from the compressed layout.
  if (o.storedAs !== undefined) rec['storedAs'] = o.storedAs;
  return rec;
}

/** One NDJSON record (an object; the caller serialises it). */
export function outcomeRecord(o: PrintedOutcome, extra: OutcomeExtra, scrubber?: Scrubber): Record<string, unknown> {
  let rec: Record<string, unknown>;
  if (o.ok) {
    const { key, ok: _ok, ...rest } = o;
    rec = { key, ok: true, ...successFields({ key, ...rest }) };
  } else {
    const error = { ...o.error, message: scrubber === undefined ? o.error.message : scrubber.scrub(o.error.message) };
    rec = { key: o.key, ok: false, error };
  }
  if (extra.path !== undefined) rec['path'] = extra.path;
  if (extra.ms !== undefined) rec['ms'] = Math.round(extra.ms * 100) / 100;
  return rec;
}

/** A key as printed in text lines: as is, or JSON-quoted when it holds control characters. */
export function printableKey(key: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  return /[\u0000-\u001f\u007f\u2028\u2029]/.test(key) ? JSON.stringify(key) : key;
}

/** One text line: `ok    KEY  b1  1234 bytes  verified` or `FAIL  KEY  CODE: message`. */
export function outcomeText(o: PrintedOutcome, extra: OutcomeExtra, scrubber?: Scrubber): string {
  if (!o.ok) {
    const msg = scrubber === undefined ? o.error.message : scrubber.scrub(o.error.message);
    return `FAIL  ${printableKey(o.key)}  ${o.error.code}: ${msg.replace(/\s*[\r\n]+\s*/g, ' ')}`;
  }
  const flags: string[] = [];
  if ('verified' in o && o.verified) flags.push('verified');
  if (o.failover) flags.push('failover');
  if (o.degraded) flags.push('degraded');
  const where = extra.path === undefined ? '' : `  -> ${printableKey(extra.path)}`;
  return `ok    ${printableKey(o.key)}  ${o.backend}  ${o.size} bytes${flags.length > 0 ? `  ${flags.join(' ')}` : ''}${where}`;
}

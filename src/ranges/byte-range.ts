/**
 * HTTP byte ranges (RFC 9110 §14.1.2), single range only: what S3 GET accepts. Resolved against
 * the object's size before any request, so every request a stream sends — the first and each
 * resume — names absolute offsets.
 */
import { ReadPathError } from '../errors.js';

/** An inclusive byte span of an object of `total` bytes. */
export interface ByteSpan {
  start: number;
  /** Inclusive; `start - 1` for an empty span (a zero-byte object read whole). */
  end: number;
  total: number;
}

const RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * Resolve `range` (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against an object of `total` bytes;
 * no range is the whole object. An end past the object is clipped, as servers do. Throws
 * INVALID_CONFIG naming the range for a malformed one, RANGE_NOT_SATISFIABLE when it starts
 * at or past the end (or asks for the last 0 bytes).
 */
export function resolveRange(range: string | undefined, total: number, key: string): ByteSpan {
  if (range === undefined) return { start: 0, end: total - 1, total };
  const m = RANGE.exec(range.trim());
  const a = m?.[1] ?? '';
  const b = m?.[2] ?? '';
  if (m === null || (a === '' && b === '')) {
    throw new ReadPathError('INVALID_CONFIG', `range: expected bytes=START-END, bytes=START- or bytes=-SUFFIX, got ${JSON.stringify(range)}`);
  }
  if (a === '') {
    const n = Number(b);
    if (n === 0) throw unsatisfiable(range, total, key);
    // The last n bytes of nothing are nothing: satisfiable (RFC 9110 §14.1.1), and S3 serves it.
    return { start: Math.max(0, total - n), end: total - 1, total };
  }
  if (beyondSafe(a)) throw unsatisfiable(range, total, key);
  const start = Number(a);
  // An end past what a number holds exactly is past every object: clipped like any other (the AWS
  // SDK for Java v1 asks for `bytes=N-9223372036854775806` to mean "from N on").
  const end = b === '' || beyondSafe(b) ? Number.MAX_SAFE_INTEGER : Number(b);
  if (end < start) throw new ReadPathError('INVALID_CONFIG', `range: ${JSON.stringify(range)} ends before it starts`);
  if (start >= total) throw unsatisfiable(range, total, key);
  return { start, end: Math.min(end, total - 1), total };
}

/**
 * Throw resolveRange's INVALID_CONFIG when `range` cannot be a range of any object (its syntax,
 * an end before its start); whether it fits a given object is left to that object.
 */
export function checkRangeSyntax(range: string): void {
  try {
    resolveRange(range, Number.MAX_SAFE_INTEGER, '');
  } catch (err) {
    if (err instanceof ReadPathError && err.code === 'INVALID_CONFIG') throw err;
  }
}

/** A run of digits too long for an exact number. */
function beyondSafe(digits: string): boolean {
  const d = digits.replace(/^0+/, '');
  return d.length > 16 || !Number.isSafeInteger(Number(d));
}

/** RANGE_NOT_SATISFIABLE from a range resolved against the object's size, which it carries. */
export class RangeNotSatisfiableError extends ReadPathError {
  constructor(message: string, readonly objectSize: number) {
    super('RANGE_NOT_SATISFIABLE', message, { backendStatus: 416 });
  }
}

function unsatisfiable(range: string, total: number, key: string): ReadPathError {
  return new RangeNotSatisfiableError(`${key}: range ${range} is not satisfiable for an object of ${total} bytes`, total);
}

/** Bytes in a span. */
export function spanLength(s: ByteSpan): number {
  return s.end - s.start + 1;
}

/**
 * HTTP byte ranges (RFC 9110 §14.1.2), single range only: what S3 GET accepts. One reading of a
 * `Range` for both sides of a read: the read path resolves the caller's range against the
 * object's size before any request (so every request a stream sends — the first and each resume —
 * names absolute offsets), and the S3 transports hold a backend's answer to the range they asked
 * for (backends/range-answer.ts).
 *
 * The header is read as RFC 9110 writes it where S3 says nothing: the unit is case-insensitive
 * (§14.1: `Bytes=0-4` is `bytes=0-4`), and the range set is a `#` list whose empty elements and
 * optional whitespace around elements a recipient must accept (§5.6.1.2: `bytes=0-4,`,
 * `bytes=,0-4`, `bytes= 0-4 , `). S3 documents its Range by RFC 9110 and nothing narrower (a
 * server that would not read these forms, MinIO or s3rver, ignores them and sends the whole
 * object), so {@link canonicalRange} is what goes to a backend: `bytes=FIRST-LAST` as written.
 * Two ranges or more stay what S3 makes of them: no range, the whole object.
 *
 * Where S3 and the RFC could be read apart, this follows S3: a suffix of an empty object
 * (`bytes=-N`, N > 0) is satisfiable and selects nothing — AWS answers it with the whole, empty
 * object in a 200 (and RFC 9110 §14.1.1 makes it the only satisfiable range of an empty
 * representation) — while every other range of an empty object, `bytes=-0` included, is 416.
 */
import { ReadPathError } from '../errors.js';

/** An inclusive byte span of an object of `total` bytes. */
export interface ByteSpan {
  start: number;
  /** Inclusive; `start - 1` for an empty span (a zero-byte object read whole). */
  end: number;
  total: number;
}

/**
 * One `bytes=` range as written: from `first` to `last` (absent: to the end), or the last
 * `suffix` bytes. A position too long for an exact number is past every object: `first` is then
 * Infinity (nothing from there on), `last` absent (clipped like any other end past the object),
 * and a suffix that long is every object whole. A range whose digits end before they start is
 * kept ending before it starts, however long the digits ({@link endsBeforeStart}).
 */
export type RangeSpec =
  | { first: number; last: number | undefined; suffix?: undefined }
  | { suffix: number; first?: undefined; last?: undefined };

const UNIT = /^bytes=/i;
const SPEC = /^(\d*)-(\d*)$/;
/** Optional whitespace at an element's ends (RFC 9110 §5.6.3: spaces and tabs). */
const OWS = /^[ \t]+|[ \t]+$/g;

/** The one range `range` names, its positions as written; undefined when it names no single range. */
function soleRange(range: string): { a: string; b: string } | undefined {
  const v = range.trim();
  if (!UNIT.test(v)) return undefined;
  let sole: { a: string; b: string } | undefined;
  for (const element of v.slice('bytes='.length).split(',')) {
    const e = element.replace(OWS, '');
    // An empty element is no element (`bytes=0-4,` is one range), not a malformed one.
    if (e === '') continue;
    const m = SPEC.exec(e);
    const a = m?.[1] ?? '';
    const b = m?.[2] ?? '';
    // A second range: S3 serves no part of several, it ignores them all.
    if (m === null || (a === '' && b === '') || sole !== undefined) return undefined;
    sole = { a, b };
  }
  return sole;
}

/**
 * `range` as the one backends read alike: `bytes=FIRST-LAST` (either side empty as written, its
 * digits unchanged), without another case of the unit, empty list elements or whitespace;
 * undefined when it is not one `bytes=` range ({@link parseRange}).
 */
export function canonicalRange(range: string): string | undefined {
  const r = soleRange(range);
  return r === undefined ? undefined : `bytes=${r.a}-${r.b}`;
}

/** `range` read as one `bytes=` range; undefined when it is not one (other units, several ranges, garbage). */
export function parseRange(range: string): RangeSpec | undefined {
  const r = soleRange(range);
  if (r === undefined) return undefined;
  const { a, b } = r;
  if (a === '') return { suffix: beyondSafe(b) ? Infinity : Number(b) };
  const first = beyondSafe(a) ? Infinity : Number(a);
  // Ordered on the digits: numbers this long have lost the difference (9007199254740993 and
  // ...992 are one number), and a backwards range is ignored, not read from a start past the end.
  if (b !== '' && digitsBelow(b, a)) return { first, last: beyondSafe(b) ? Number.MAX_SAFE_INTEGER : Number(b) };
  // An end past what a number holds exactly: the AWS SDK for Java v1 asks for
  // `bytes=N-9223372036854775806` to mean "from N on".
  return { first, last: b === '' || beyondSafe(b) ? undefined : Number(b) };
}

/** The range ends before it starts (`bytes=7-3`): no range of any object, and S3 ignores it. */
export function endsBeforeStart(r: RangeSpec): boolean {
  return r.first !== undefined && r.last !== undefined && r.last < r.first;
}

/**
 * The first and last byte `r` selects of an object of `total` bytes (an end past the object is
 * clipped, as servers do; `end = start - 1` for the empty suffix of an empty object); undefined
 * when it is not satisfiable there: it starts at or past the end, or asks for the last 0 bytes.
 */
export function selectRange(r: RangeSpec, total: number): { start: number; end: number } | undefined {
  if (r.suffix !== undefined) return r.suffix === 0 ? undefined : { start: Math.max(0, total - r.suffix), end: total - 1 };
  if (r.first >= total) return undefined;
  return { start: r.first, end: Math.min(r.last ?? Infinity, total - 1) };
}

/**
 * Resolve `range` (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against an object of `total` bytes;
 * no range is the whole object. Throws INVALID_CONFIG naming the range for a malformed one (or
 * one that ends before it starts), RANGE_NOT_SATISFIABLE when {@link selectRange} finds it
 * unsatisfiable.
 */
export function resolveRange(range: string | undefined, total: number, key: string): ByteSpan {
  if (range === undefined) return { start: 0, end: total - 1, total };
  const r = parseRange(range);
  if (r === undefined) {
    throw new ReadPathError('INVALID_CONFIG', `range: expected bytes=START-END, bytes=START- or bytes=-SUFFIX, got ${JSON.stringify(range)}`);
  }
  if (endsBeforeStart(r)) throw new ReadPathError('INVALID_CONFIG', `range: ${JSON.stringify(range)} ends before it starts`);
  const s = selectRange(r, total);
  if (s === undefined) throw new RangeNotSatisfiableError(`${key}: range ${range} is not satisfiable for an object of ${total} bytes`, total);
  return { start: s.start, end: s.end, total };
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

/** Runs of digits compared as the numbers they write, whatever their length. */
function digitsBelow(x: string, y: string): boolean {
  const a = x.replace(/^0+/, '');
  const b = y.replace(/^0+/, '');
  return a.length !== b.length ? a.length < b.length : a < b;
}

/** RANGE_NOT_SATISFIABLE from a range resolved against the object's size, which it carries. */
export class RangeNotSatisfiableError extends ReadPathError {
  constructor(message: string, readonly objectSize: number) {
    super('RANGE_NOT_SATISFIABLE', message, { backendStatus: 416 });
  }
}

/** Bytes in a span. */
export function spanLength(s: ByteSpan): number {
  return s.end - s.start + 1;
}

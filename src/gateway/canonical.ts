/**
 * The canonical forms SigV4 signs, computed from a request as the gateway receives it, the way
 * S3 computes them: whatever way a client percent-encoded its URL, each path segment and each
 * query name and value is decoded to its bytes and encoded again with SigV4's rule (RFC 3986
 * unreserved `A-Z a-z 0-9 - . _ ~` kept, every other byte `%XX` in upper case, `/` kept as the
 * path separator). So `+` and `%2B`, `~` and `%7E`, `%c3%bc` and `%C3%BC` sign alike, and a
 * `%2F` inside a key stays `%2F` (it is not a separator). Paths are encoded once, as S3 wants
 * (other AWS services encode twice; S3 does not), and never normalized (`.`, `..` and `//` are
 * part of S3 keys).
 *
 * One rule differs between the path and the query, as it does in S3 (and in MinIO, and in the Go
 * SDK, which sends query spaces as `+`): in the query, a raw `+` is a space
 * (`application/x-www-form-urlencoded`), so `prefix=a+b` means `a b`; in the path it is a
 * literal `+`. {@link decodeQueryComponent} and {@link decodePathComponent} decode them the same
 * way, so a server that reads keys and parameters with them serves what was signed.
 *
 * Invalid percent-encoding (`%` not followed by two hex digits) makes a URL unparsable: the
 * functions return `null`, never throw.
 */

const HEX = '0123456789ABCDEF';

/** `%XX` of every byte. */
const PCT: readonly string[] = Array.from({ length: 256 }, (_, b) => `%${HEX[b >> 4]}${HEX[b & 15]}`);

/** 1 for the RFC 3986 unreserved ASCII characters SigV4 leaves unencoded. */
const UNRESERVED = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-._~]/.test(ch)) UNRESERVED[c] = 1;
}

/** The value of one hex digit's char code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The value of the `%XX` escape at `i` (`s[i]` is `%`), or -1 when it is not one. */
function escapeAt(s: string, i: number, end: number): number {
  if (i + 2 >= end) return -1;
  const hi = hexValue(s.charCodeAt(i + 1));
  const lo = hexValue(s.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

/**
 * `s[start, end)` in SigV4's canonical encoding, or `null` when it holds an invalid `%` escape or
 * a lone surrogate. `slash`: a raw `/` stays a separator (paths); `plusIsSpace`: a raw `+` is a
 * space (queries). Runs that need no change are copied as slices, so an already-canonical
 * component costs one scan.
 */
function canonicalize(s: string, start: number, end: number, slash: boolean, plusIsSpace: boolean): string | null {
  let out = '';
  let run = start;
  let i = start;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c < 128 && UNRESERVED[c] === 1) {
      i++;
      continue;
    }
    if (c === 0x2f && slash) {
      i++;
      continue;
    }
    let enc: string;
    let next = i + 1;
    if (c === 0x25) {
      const b = escapeAt(s, i, end);
      if (b < 0) return null;
      enc = b < 128 && UNRESERVED[b] === 1 ? String.fromCharCode(b) : (PCT[b] as string);
      next = i + 3;
      // An escape already in canonical form (upper-case hex of a reserved byte) needs no copy.
      if (enc === s.slice(i, next)) {
        i = next;
        continue;
      }
    } else if (c === 0x2b && plusIsSpace) {
      enc = '%20';
    } else if (c < 128) {
      enc = PCT[c] as string;
    } else {
      // A non-ASCII character (req.url never holds one — Node refuses raw non-ASCII request
      // targets — but a caller's string may): its UTF-8 bytes.
      let cp = c;
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = i + 1 < end ? s.charCodeAt(i + 1) : 0;
        if (d < 0xdc00 || d > 0xdfff) return null;
        cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        next = i + 2;
      } else if (c >= 0xdc00 && c <= 0xdfff) {
        return null;
      }
      enc = '';
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) enc += PCT[b] as string;
    }
    out += s.slice(run, i) + enc;
    i = next;
    run = next;
  }
  return run === start ? s.slice(start, end) : out + s.slice(run, end);
}

/**
 * The canonical URI of a request path as received (`req.url` before `?`, still
 * percent-encoded), or `null` when it is not a path (does not start with `/`) or holds an
 * invalid escape.
 */
export function canonicalUri(rawPath: string): string | null {
  if (rawPath.charCodeAt(0) !== 0x2f) return null;
  return canonicalize(rawPath, 0, rawPath.length, true, false);
}

/** One query parameter, name and value in canonical encoding. */
export interface CanonicalParam {
  readonly name: string;
  readonly value: string;
}

/**
 * The parameters of a raw query string (after `?`, still percent-encoded), each name and value
 * in canonical encoding, in the order received; a parameter without `=` has the value `''`
 * (`?location` signs as `location=`), empty pieces (`a=1&&b=2`) are skipped. `null` when a name
 * or value holds an invalid escape.
 */
export function parseCanonicalQuery(rawQuery: string): CanonicalParam[] | null {
  const params: CanonicalParam[] = [];
  let start = 0;
  const n = rawQuery.length;
  while (start <= n) {
    let amp = rawQuery.indexOf('&', start);
    if (amp < 0) amp = n;
    if (amp > start) {
      let eq = rawQuery.indexOf('=', start);
      if (eq < 0 || eq > amp) eq = amp;
      const name = canonicalize(rawQuery, start, eq, false, true);
      const value = eq < amp ? canonicalize(rawQuery, eq + 1, amp, false, true) : '';
      if (name === null || value === null) return null;
      params.push({ name, value });
    }
    start = amp + 1;
  }
  return params;
}

/** Byte order of two canonical (ASCII) strings. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The canonical query string: `name=value` pairs sorted by name, then value, joined with `&`,
 * leaving out the parameter named `skip` (presigned requests leave out `X-Amz-Signature`).
 */
export function canonicalQueryString(params: readonly CanonicalParam[], skip?: string): string {
  const kept = skip === undefined ? params.slice() : params.filter((p) => p.name !== skip);
  if (kept.length > 1) kept.sort((a, b) => compare(a.name, b.name) || compare(a.value, b.value));
  let out = '';
  for (let i = 0; i < kept.length; i++) {
    const p = kept[i] as CanonicalParam;
    out += i === 0 ? `${p.name}=${p.value}` : `&${p.name}=${p.value}`;
  }
  return out;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a canonical component's bytes, or `null` when they are not UTF-8. */
function decodeCanonical(canonical: string): string | null {
  if (!canonical.includes('%')) return canonical;
  const bytes: number[] = [];
  for (let i = 0; i < canonical.length; i++) {
    const c = canonical.charCodeAt(i);
    if (c === 0x25) {
      bytes.push((hexValue(canonical.charCodeAt(i + 1)) << 4) | hexValue(canonical.charCodeAt(i + 2)));
      i += 2;
    } else {
      bytes.push(c);
    }
  }
  try {
    return UTF8.decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

/**
 * A raw query name or value (still percent-encoded) decoded to text as the verifier signs it
 * (`+` is a space), or `null` when it holds an invalid escape or its bytes are not UTF-8.
 */
export function decodeQueryComponent(raw: string): string | null {
  const c = canonicalize(raw, 0, raw.length, false, true);
  return c === null ? null : decodeCanonical(c);
}

/**
 * A raw path or path segment (still percent-encoded) decoded to text as the verifier signs it
 * (`+` is a `+`, `%2F` a `/`), or `null` when it holds an invalid escape or its bytes are not
 * UTF-8.
 */
export function decodePathComponent(raw: string): string | null {
  const c = canonicalize(raw, 0, raw.length, false, false);
  return c === null ? null : decodeCanonical(c);
}

/**
 * A header value as SigV4 canonicalizes it (what @smithy/signature-v4's getCanonicalHeaders
 * does): CR and LF become spaces, runs of spaces and tabs collapse to one space, and a leading
 * and trailing space go.
 */
export function canonicalHeaderValue(v: string): string {
  if (!/[\r\n\t]| {2}|^ | $/.test(v)) return v;
  return v.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

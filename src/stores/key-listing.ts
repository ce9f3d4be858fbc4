/**
 * What every store's key listing shares: argument checks, S3's key order (UTF-8 bytes) on JS
 * strings, and the key range a prefix and a start-after bound select.
 *
 * A prefix is turned into a half-open range `[prefix, successor)` rather than a LIKE pattern:
 * no wildcard (`%`, `_`, `\`) can leak into it, and both SQLite and PostgreSQL answer a range on
 * the primary key `(object_key, backend_name)` with an index range scan that stops at the
 * range's end.
 */
import { ReadPathError } from '../errors.js';
import type { ListKeysOptions } from '../types.js';

/** {@link ListKeysOptions} checked, with defaults filled in. */
export interface CheckedListKeysOptions {
  prefix: string;
  /** Undefined when the listing starts at the prefix itself. */
  startAfter: string | undefined;
  limit: number;
}

/** The key range one page reads: keys from `from` (inclusive or not) up to `to`, exclusive. */
export interface KeyRange {
  from: string;
  /** True: keys `>= from` (the prefix itself); false: keys `> from` (a start-after key). */
  inclusive: boolean;
  /** Exclusive upper bound: the prefix's successor; undefined when unbounded. */
  to: string | undefined;
}

/**
 * Compare two keys in UTF-8 byte order, which is S3's listing order and the order of code
 * points. JS's `<` compares UTF-16 code units instead, which puts U+10000 and above (surrogate
 * pairs, 0xD800..) before U+E000..U+FFFF; UTF-8 puts them after.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (D800..DFFF) above E000..FFFF: code point order.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The smallest string greater (in code point order) than every string that starts with
 * `prefix`: its last code point incremented, after dropping trailing U+10FFFFs; undefined when
 * there is none (an empty prefix, or one made only of U+10FFFF). Code point order is UTF-8
 * byte order, so the range `[prefix, successor)` holds exactly the keys with that prefix.
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const last = (cps.pop() as string).codePointAt(0) as number;
    if (last < 0x10ffff) {
      // The surrogate range is not a code point of its own: U+D7FF is followed by U+E000.
      return cps.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
    }
  }
  return undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Lone surrogates become U+FFFD, as they do when a driver encodes the string to UTF-8. */
function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/** Check listing options; a bad one is INVALID_KEY (400), naming the field. */
export function checkListKeysOptions(opts: ListKeysOptions): CheckedListKeysOptions {
  if (opts === null || typeof opts !== 'object') throw new ReadPathError('INVALID_KEY', 'listKeys: options are required');
  const { prefix, startAfter, limit } = opts;
  if (prefix !== undefined && typeof prefix !== 'string') throw new ReadPathError('INVALID_KEY', 'listKeys: prefix must be a string');
  if (startAfter !== undefined && typeof startAfter !== 'string') throw new ReadPathError('INVALID_KEY', 'listKeys: startAfter must be a string');
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new ReadPathError('INVALID_KEY', `listKeys: limit must be a non-negative integer, got ${String(limit)}`);
  }
  return {
    prefix: prefix === undefined ? '' : wellFormed(prefix),
    startAfter: startAfter === undefined ? undefined : wellFormed(startAfter),
    limit,
  };
}

/** The key range a page reads: whichever of prefix and start-after bounds it tighter, below. */
export function keyRange(opts: CheckedListKeysOptions): KeyRange {
  const to = opts.prefix === '' ? undefined : prefixSuccessor(opts.prefix);
  if (opts.startAfter !== undefined && compareKeys(opts.startAfter, opts.prefix) >= 0) {
    return { from: opts.startAfter, inclusive: false, to };
  }
  return { from: opts.prefix, inclusive: true, to };
}

/** One page of a key listing (a store's or ReadPath's `listKeys`). */
export type ListPageFn<T extends { key: string } = { key: string }> = (opts: ListKeysOptions) => Promise<readonly T[]>;

/**
 * Every entry a listing gives under `prefix`, in its order, one page of `pageSize` (default
 * 1000) at a time as the consumer asks for more: a prefix of millions of keys is never held in
 * memory. A failed page (the database down) throws to the consumer.
 */
export async function* listAll<T extends { key: string }>(list: ListPageFn<T>, prefix: string, opts: { signal?: AbortSignal; pageSize?: number } = {}): AsyncGenerator<T, void, undefined> {
  const pageSize = opts.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new ReadPathError('INVALID_CONFIG', `pageSize must be a positive integer, got ${String(pageSize)}`);
  let after: string | undefined;
  for (;;) {
    const page = await list({ prefix, limit: pageSize, ...(opts.signal === undefined ? {} : { signal: opts.signal }), ...(after === undefined ? {} : { startAfter: after }) });
    yield* page;
    const last = page[page.length - 1];
    if (page.length < pageSize || last === undefined) return;
    after = last.key;
  }
}

/** The keys of {@link listAll}'s entries. */
export async function* listAllKeys(list: ListPageFn, prefix: string, opts: { signal?: AbortSignal; pageSize?: number } = {}): AsyncGenerator<string, void, undefined> {
  for await (const o of listAll(list, prefix, opts)) yield o.key;
}

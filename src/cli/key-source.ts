/**
 * Keys for `readpath batch --keys FILE|-`: one key per line, exactly as written, streamed.
 *
 * Rules (README "Key files"):
 * - Lines end at `\n`. One `\r` before it is dropped, so CRLF files work; a `\r` anywhere else
 *   is part of the key. (node:readline is not used because it also ends lines at a lone `\r`,
 *   which would split such keys.)
 * - Everything else is kept: leading and trailing spaces, tabs, `#`.
 * - Empty lines (and lines holding only the `\r` of a CRLF) are ignored.
 * - The input is UTF-8; a byte-order mark at the very start is dropped.
 * - A line longer than {@link MAX_LINE_CHARS} cannot be a key (keys are at most 1088 bytes); it is not
 *   buffered whole but reported as an {@link OverlongLine}, so a file without newlines cannot
 *   exhaust memory.
 *
 * The file is read lazily, a chunk at a time, only as fast as the consumer pulls keys.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Hash } from 'node:crypto';
import { digestShard, newShardHash, type Shard } from './shard.js';

/** Longest line kept, in UTF-16 code units; well above the 1088-byte key limit (MAX_KEY_BYTES). */
export const MAX_LINE_CHARS = 4096;

/** A line too long to be a key. */
export interface OverlongLine {
  overlong: true;
  /** The line's first characters. */
  prefix: string;
  /** Characters in the line (at least {@link MAX_LINE_CHARS} + 1). */
  length: number;
}

/** What a key source yields. */
export type KeyLine = string | OverlongLine;

/** True for an {@link OverlongLine}. */
export function isOverlong(line: KeyLine): line is OverlongLine {
  return typeof line !== 'string';
}

/** Split a byte or text stream into keys (see the module comment). */
export async function* readKeyLines(input: AsyncIterable<Uint8Array | string>, maxLineChars = MAX_LINE_CHARS): AsyncGenerator<KeyLine, void, undefined> {
  const decoder = new StringDecoder('utf8');
  let pending = ''; // the current line so far, while it is short enough to be a key
  let overCount = 0; // > 0: the current line is over the limit and this many characters long so far
  let overPrefix = '';
  let first = true;

  const lineOf = (line: string): KeyLine | undefined => {
    if (line.length > maxLineChars) return { overlong: true, prefix: line.slice(0, 64), length: line.length };
    const key = line.endsWith('\r') ? line.slice(0, -1) : line;
    return key === '' ? undefined : key;
  };

  function* feed(text: string): Generator<KeyLine> {
    if (first && text.length > 0) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      start = nl + 1;
      if (overCount > 0) {
        const length = overCount + piece.length;
        overCount = 0;
        yield { overlong: true, prefix: overPrefix, length };
        continue;
      }
      const line = lineOf(pending + piece);
      pending = '';
      if (line !== undefined) yield line;
    }
    const rest = text.slice(start);
    if (overCount > 0) {
      overCount += rest.length;
      return;
    }
    pending += rest;
    if (pending.length > maxLineChars) {
      overCount = pending.length;
      overPrefix = pending.slice(0, 64);
      pending = '';
    }
  }

  for await (const chunk of input) {
    yield* feed(typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  }
  yield* feed(decoder.end());
  if (overCount > 0) {
    yield { overlong: true, prefix: overPrefix, length: overCount };
    return;
  }
  const last = lineOf(pending);
  if (last !== undefined) yield last;
}

/**
 * Open `--keys FILE` for reading, failing early (before any backend is touched) when the file
 * cannot be read. Returns the stream's keys.
 */
export async function openKeyFile(path: string): Promise<AsyncGenerator<KeyLine, void, undefined>> {
  // Probe readability now so a typo is a usage error, not a failed batch.
  const fh = await open(path, 'r');
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    const err = new Error(`${path} is a directory`) as NodeJS.ErrnoException;
    err.code = 'EISDIR';
    throw err;
  }
  // The stream owns the handle (and closes it); a bare fd would be closed when `fh` is collected.
  return readKeyLines(fh.createReadStream({ highWaterMark: 64 * 1024 }));
}

/**
 * Count the keys of a regular file (for the progress bar's ETA) by scanning it once more,
 * without keeping it. Resolves undefined for anything that is not a regular file (a pipe
 * cannot be read twice). With `shard`, counts only that shard's keys, hashing each line's bytes
 * as it goes (exact for UTF-8 files; a line over {@link MAX_LINE_CHARS} bytes is taken to be
 * overlong, and so in shard 0).
 */
export async function countKeys(path: string, signal?: AbortSignal, shard?: Shard): Promise<number | undefined> {
  const st = await stat(path);
  if (!st.isFile()) return undefined;
  const sharded = shard !== undefined && shard.count > 1 ? shard : undefined;
  let hash: Hash | undefined = sharded === undefined ? undefined : newShardHash();
  let n = 0;
  let len = 0; // bytes in the current line, its \r included
  let heldCR = false; // the current line's last byte so far is a \r, not yet hashed
  let start = true;
  const endLine = (): void => {
    // Same rule as readKeyLines: one final \r is dropped, then an empty line is ignored.
    if (len > 1 || (len === 1 && !heldCR)) {
      if (hash === undefined || sharded === undefined) n++;
      else if (len > MAX_LINE_CHARS ? sharded.index === 0 : digestShard(hash.digest(), sharded.count) === sharded.index) n++;
    }
    if (hash !== undefined && len > 0) hash = newShardHash();
    len = 0;
    heldCR = false;
  };
  const CR = Uint8Array.of(0x0d);
  const feed = (chunk: Uint8Array, from: number, to: number): void => {
    if (to <= from) return;
    len += to - from;
    if (hash !== undefined) {
      if (heldCR) hash.update(CR);
      const last = chunk[to - 1] === 0x0d ? to - 1 : to;
      if (last > from) hash.update(chunk.subarray(from, last));
      heldCR = last < to;
    } else {
      heldCR = chunk[to - 1] === 0x0d;
    }
  };
  const stream = createReadStream(path, { highWaterMark: 256 * 1024, ...(signal === undefined ? {} : { signal }) });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let i = 0;
    if (start) {
      start = false;
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
    }
    for (let nl = chunk.indexOf(0x0a, i); nl >= 0; nl = chunk.indexOf(0x0a, i)) {
      feed(chunk, i, nl);
      endLine();
      i = nl + 1;
    }
    feed(chunk, i, chunk.length);
  }
  endLine();
  return n;
}

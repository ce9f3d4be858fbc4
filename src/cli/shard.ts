/**
 * `readpath batch --shard I/N`: N machines (the pods of a Kubernetes Indexed Job, say) each read
 * the keys of one shard of the same key list.
 *
 * A key belongs to shard `H mod N` (0-based), where H is the first 8 bytes of the SHA-256 of
 * the key's UTF-8 bytes, read as a big-endian unsigned 64-bit integer. It depends on nothing
 * but the key's bytes, so it is stable across processes, machines, platforms and readpath
 * versions, and any language's standard library computes it (Go:
 * `binary.BigEndian.Uint64(sha256.Sum256([]byte(key))[:8]) % n`; Python:
 * `int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n`). A cryptographic
 * hash rather than FNV-1a: FNV's low bits depend only on the low bits of the input bytes, so
 * `mod 2^k` splits keys like `00/000000.bin`, `01/000001.bin`... into lopsided shards; SHA-256's
 * bits are uniform whatever the keys look like, at ~1 µs a key.
 *
 * A line too long to be a key (it is not kept, so it cannot be hashed) belongs to shard 0: it is
 * reported exactly once.
 */
import { createHash, type Hash } from 'node:crypto';

/** The largest N accepted. */
export const MAX_SHARDS = 1_000_000;

/** A parsed `--shard I/N`. */
export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

/** The shard, or why `value` is not a valid `I/N`. */
export function parseShard(value: string): Shard | { problem: string } {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const expected = `expected I/N with integers 0 <= I < N <= ${MAX_SHARDS} (for example 0/4)`;
  if (m === null) return { problem: expected };
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || count > MAX_SHARDS) return { problem: expected };
  if (index >= count) return { problem: `${expected}: I must be less than N` };
  return { index, count };
}

/** The string form, `I/N`. */
export function shardText(s: Shard): string {
  return `${s.index}/${s.count}`;
}

/** H mod n for H = the first 8 bytes of `digest`, big-endian (exact for any n <= 2^37). */
export function digestShard(digest: Uint8Array, n: number): number {
  if (n === 1) return 0;
  const hi = ((digest[0] as number) << 24 | (digest[1] as number) << 16 | (digest[2] as number) << 8 | (digest[3] as number)) >>> 0;
  const lo = ((digest[4] as number) << 24 | (digest[5] as number) << 16 | (digest[6] as number) << 8 | (digest[7] as number)) >>> 0;
  let r = hi % n;
  r = (r * 0x10000 + (lo >>> 16)) % n;
  return (r * 0x10000 + (lo & 0xffff)) % n;
}

/** The hash state a line's bytes are fed into as they are scanned (the key counter's). */
export function newShardHash(): Hash {
  return createHash('sha256');
}

/** The shard key hash H of `key`, as 16 hex digits. */
export function shardHashHex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);
}

/** The shard (0-based, of `count`) that `key` belongs to. */
export function shardOf(key: string, count: number): number {
  return count === 1 ? 0 : digestShard(createHash('sha256').update(key, 'utf8').digest(), count);
}

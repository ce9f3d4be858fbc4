/**
 * Running a chaos batch through a ReadPath and judging its outcomes against what the replicas
 * make possible. Shared by the in-memory and the real-HTTP chaos suites.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { BatchOutcome } from '../../src/read-path.js';
import type { ChaosReader } from './chaos-engine.js';

/** What the test knows about one key before reading it. */
export interface KeyTruth {
  /** Hex SHA-256 of the seeded body. */
  hash: string;
  /** Some copy serves on every attempt: the read must succeed. */
  good: boolean;
  /** Every copy is broken on every attempt: no read can succeed. */
  hopeless: boolean;
}

/** A batch's outcomes, one per key. */
export interface ChaosResult {
  outcomes: Map<string, BatchOutcome>;
  duplicates: string[];
  elapsedMs: number;
}

/**
 * Read `keys` with readMany, calling `onProgress(done)` after every outcome (outages and kills
 * are scheduled from there). Fails on a duplicate outcome.
 */
export async function runChaosBatch(rp: Pick<ChaosReader, 'readMany'>, keys: Iterable<string>, opts: {
  concurrency?: number;
  op?: 'get' | 'head';
  signal?: AbortSignal;
  onProgress?: (done: number) => void | Promise<void>;
}): Promise<ChaosResult> {
  const outcomes = new Map<string, BatchOutcome>();
  const duplicates: string[] = [];
  const t0 = performance.now();
  for await (const o of rp.readMany(keys, {
    concurrency: opts.concurrency ?? 64,
    op: opts.op ?? 'get',
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  })) {
    if (outcomes.has(o.key)) duplicates.push(o.key);
    outcomes.set(o.key, o);
    await opts.onProgress?.(outcomes.size);
  }
  return { outcomes, duplicates, elapsedMs: performance.now() - t0 };
}

/** The tally printed after a run. */
export interface ChaosSummary {
  keys: number;
  ok: number;
  degraded: number;
  byCode: Record<string, number>;
  /** Keys the replicas guarantee / could at best allow. */
  mustSucceed: number;
  mayAtBestSucceed: number;
  /** Good keys excused from the guarantee (their probe died with a killed worker). */
  excused: number;
  successRate: number;
  elapsedMs: number;
}

const LOCATED_FAILURES = new Set(['BACKEND_ERROR', 'TIMEOUT', 'INTEGRITY_MISMATCH', 'BACKEND_UNAVAILABLE']);
const DEGRADED_FAILURES = new Set(['ALL_BACKENDS_FAILED', 'OBJECT_NOT_FOUND']);

/**
 * Judge a batch: exactly one outcome per key; every GET body matches its seeded hash; every key
 * with a good copy succeeded unless `excused`; no key whose copies are all broken succeeded;
 * failures carry only the codes this chaos can cause.
 */
export function judgeChaos(keys: readonly string[], truth: (key: string) => KeyTruth, r: ChaosResult, opts: {
  op?: 'get' | 'head';
  excused?: (key: string) => boolean;
} = {}): ChaosSummary {
  assert.deepEqual(r.duplicates, [], 'exactly one outcome per key (duplicates seen)');
  assert.equal(r.outcomes.size, keys.length, 'exactly one outcome per key');
  const byCode: Record<string, number> = {};
  let ok = 0;
  let degraded = 0;
  let mustSucceed = 0;
  let atBest = 0;
  let excused = 0;
  for (const key of keys) {
    const o = r.outcomes.get(key);
    assert.ok(o !== undefined, `no outcome for ${key}`);
    const t = truth(key);
    if (t.good) mustSucceed++;
    if (!t.hopeless) atBest++;
    if (o.ok) {
      ok++;
      byCode.OK = (byCode.OK ?? 0) + 1;
      if (o.degraded) degraded++;
      if (opts.op !== 'head') {
        const body = (o as { body: Uint8Array }).body;
        const verified = (o as { verified: boolean }).verified;
        const actual = createHash('sha256').update(body).digest('hex');
        if (!o.degraded) assert.equal(verified, true, `${key}: a located read with a stored hash must be verified`);
        // Never a body that fails its hash: located reads check content_hash, degraded ones
        // (no content_hash) the backend's MD5 ETag, which a damaged copy keeps.
        assert.equal(actual, t.hash, `${key}: served a body that fails its hash from ${o.backend} (degraded ${o.degraded}, verified ${verified})`);
        assert.ok(!t.hopeless, `${key}: every copy is broken, yet it was served`);
      }
      continue;
    }
    byCode[o.error.code] = (byCode[o.error.code] ?? 0) + 1;
    if (t.good) {
      if (opts.excused?.(key) === true) {
        excused++;
      } else {
        assert.fail(`${key}: has a good copy but failed with ${o.error.code}: ${o.error.message}`);
      }
    }
    assert.ok(LOCATED_FAILURES.has(o.error.code) || DEGRADED_FAILURES.has(o.error.code),
      `${key}: unexpected failure code ${o.error.code}: ${o.error.message}`);
  }
  assert.ok(ok <= atBest, `${ok} successes, but the replicas allow at most ${atBest}`);
  return {
    keys: keys.length, ok, degraded, byCode, mustSucceed, mayAtBestSucceed: atBest, excused,
    successRate: ok / keys.length, elapsedMs: r.elapsedMs,
  };
}

/** One line for the test log. */
export function formatSummary(label: string, s: ChaosSummary): string {
  const pct = (n: number): string => `${((100 * n) / s.keys).toFixed(2)}%`;
  const codes = Object.entries(s.byCode).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}=${n}`).join(' ');
  return `${label}: ${s.keys} keys in ${(s.elapsedMs / 1000).toFixed(2)}s — success ${pct(s.ok)} ` +
    `(replicas guarantee ${pct(s.mustSucceed)}, allow at best ${pct(s.mayAtBestSucceed)}); degraded ${s.degraded}; ` +
    `excused ${s.excused}; outcomes ${codes}`;
}

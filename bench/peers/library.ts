/**
 * The library rows of the peer benchmark, in this process against the same stub:
 *
 * - `ceiling`: raw `node:http` keep-alive GETs (64 in flight, the backends round-robin, as
 *   readpath spreads them) with a SHA-256 of every body checked against the stub's: what this
 *   machine can do for a verified read with no S3 client, no failover and no metadata;
 * - `readMany pool` / `readMany inline`: `ReadPath.readMany` (default concurrency 64) of the
 *   same verified objects, the default runtime (the piscina pool) and inline, with the main
 *   thread's event-loop delay (p99, max) sampled during the run.
 *
 * Each row reads a warm-up slice first (connections, JIT), then times all `reads` keys.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ReadPath } from '../../src/read-path.js';
import type { StubFleet, StubListedObject } from './stub-fleet.js';
import type { ReadpathSetup } from './readpath-setup.js';

/** Library variants. */
export type LibraryVariant = 'ceiling' | 'readMany pool' | 'readMany inline';

/** One library row. */
export interface LibraryRow {
  variant: LibraryVariant;
  reads: number;
  ok: number;
  /** Outcomes whose body matched the stored SHA-256 (all of them for the ceiling, checked here). */
  verified: number;
  seconds: number;
  readsPerSec: number;
  /** Main-thread event-loop delay during the timed part, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
}

const IN_FLIGHT = 64;

function get(agent: http.Agent, endpoint: string, pathname: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${endpoint}${pathname}`, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks)) : reject(new Error(`HTTP ${String(res.statusCode)} for ${pathname}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function timed(objects: readonly StubListedObject[], run: (objs: readonly StubListedObject[]) => Promise<{ ok: number; verified: number }>, variant: LibraryVariant, warmup: number): Promise<LibraryRow> {
  await run(objects.slice(0, warmup));
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  const { ok, verified } = await run(objects);
  const seconds = (performance.now() - t0) / 1000;
  h.disable();
  return {
    variant, reads: objects.length, ok, verified, seconds,
    readsPerSec: objects.length / seconds,
    loopP99Ms: h.percentile(99) / 1e6,
    loopMaxMs: h.max / 1e6,
  };
}

/** Raw keep-alive GETs + SHA-256, 64 in flight. */
export async function runCeiling(fleet: StubFleet, objects: readonly StubListedObject[], warmup: number): Promise<LibraryRow> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const paths = new Map(objects.map((o) => [o.key, o.key.split('/').map(encodeURIComponent).join('/')]));
  try {
    return await timed(objects, async (objs) => {
      let next = 0;
      let ok = 0;
      let verified = 0;
      const worker = async (): Promise<void> => {
        while (next < objs.length) {
          const i = next++;
          const o = objs[i] as StubListedObject;
          const b = i % fleet.endpoints.length;
          const body = await get(agent, fleet.endpoints[b] as string, `/${fleet.buckets[b] as string}/${paths.get(o.key) as string}`);
          ok++;
          if (createHash('sha256').update(body).digest('hex') === o.sha256) verified++;
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      return { ok, verified };
    }, 'ceiling', warmup);
  } finally {
    agent.destroy();
  }
}

/** `readMany` of every object with the given runtime. */
export async function runReadMany(setup: ReadpathSetup, objects: readonly StubListedObject[], mode: 'pool' | 'inline', warmup: number): Promise<LibraryRow> {
  // The same configuration, but for `runtime.mode: inline` in the inline one.
  const rp = await ReadPath.open(mode === 'pool' ? setup.config : setup.inlineConfig);
  try {
    return await timed(objects, async (objs) => {
      let ok = 0;
      let verified = 0;
      for await (const o of rp.readMany(objs.map((x) => x.key))) {
        if (!o.ok) throw new Error(`readMany: ${o.key}: ${o.error.code}: ${o.error.message}`);
        ok++;
        if ('verified' in o && o.verified) verified++;
      }
      return { ok, verified };
    }, mode === 'pool' ? 'readMany pool' : 'readMany inline', warmup);
  } finally {
    await rp.close();
  }
}

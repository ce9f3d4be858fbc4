/**
 * The broadcast benchmark: every strategy × executor cell over one world, side by side in one
 * process. Each cell is a tinybench task whose iterations are reads run concurrently
 * (`concurrency: 'task'`, `threshold` = reads in flight), after a warmup that also fills the
 * hedging latency window. Every cell reads the same keys, and a key's latency on a backend is a
 * function of (seed, backend, key), so every strategy meets exactly the same world.
 *
 * Over 300 lines on purpose: the cells, their warmup and the report are one benchmark run.
 */
import { writeFile } from 'node:fs/promises';
import { Recorder, METRIC } from '../../src/telemetry/recorder.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { Failover } from '../../src/engine/failover.js';
import { messageOf } from '../../src/errors.js';
import type { Core, LocationCache, ObjectBackend } from '../../src/types.js';
import { createBackends, simWorldData, SIM_BACKEND_MODULE } from './sim-world.js';
import { resolveBenchOptions } from './options.js';
import { failoverOptionsFor, strategyName, type Strategy } from './strategies.js';
import { mean, percentile, round } from './stats.js';
import { renderCdfSvg } from './chart.js';
import { inlineExecutor, openPoolExecutor, type BenchExecutor, type PoolBackends } from './executors.js';
import type { BenchOptions, BenchReport, BenchResult, ResolvedBenchOptions, SkippedCell } from './types.js';

/** A world the cells read from. */
interface World {
  readonly names: readonly string[];
  readonly backends: ReadonlyMap<string, ObjectBackend>;
  /** Requests each backend received so far, in `names` order. */
  requestCounts(): Promise<number[]>;
  /** Read `key` from backend `name` without readpath. */
  direct(name: string, key: string): Promise<void>;
  /** How pool workers build these backends. */
  readonly pool: PoolBackends;
  close(): Promise<void>;
}

/** Never remembers: every degraded read broadcasts, which is what the bench measures. */
const NO_CACHE: LocationCache = { get: () => undefined, set: () => {} };

async function drain(body: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of body) {
    // Read the whole body, as a probe does.
  }
}

async function openWorld(o: ResolvedBenchOptions, keys: readonly string[]): Promise<World> {
  if (o.world === 'sim') {
    const data = simWorldData(o.models, o.seed, o.objectSize);
    const sims = createBackends(data);
    const map = new Map<string, ObjectBackend>(sims.map((b) => [b.name, b]));
    return {
      names: sims.map((b) => b.name),
      backends: map,
      requestCounts: async () => sims.map((b) => b.requests),
      pool: { backendModule: SIM_BACKEND_MODULE, backendData: data },
      async direct(name, key) {
        const r = await (map.get(name) as ObjectBackend).get(key);
        await drain(r.body);
      },
      close: async () => {},
    };
  }
  const { startS3World } = await import('./s3-world.js');
  const s3 = await startS3World({ models: o.models, seed: o.seed, keys, objectSize: o.objectSize });
  return {
    names: s3.names,
    backends: new Map<string, ObjectBackend>(s3.backends.map((b) => [b.name, b])),
    requestCounts: () => s3.requestCounts(),
    async direct(name, key) {
      await s3.directGet(name, key);
    },
    pool: { backends: [...s3.backendOptions] },
    close: () => s3.close(),
  };
}

function usageOf(r: Recorder, names: readonly string[]): { apiRequests: number; egressBytes: number } {
  let apiRequests = 0;
  let egressBytes = 0;
  for (const n of names) {
    const u = r.usage.usage(n);
    apiRequests += u.apiRequests;
    egressBytes += u.egressBytes;
  }
  return { apiRequests, egressBytes };
}

function hedgeCounts(r: Recorder): BenchResult['hedges'] {
  return { sent: r.count(METRIC.hedgesSent), won: r.count(METRIC.hedgesWon), budgetExhausted: r.count(METRIC.hedgeBudgetExhausted) };
}

const keyName = (prefix: string, i: number): string => `${prefix}-${String(i).padStart(6, '0')}`;

/** The keys a bench with these options reads (warmup ones first); the s3 world seeds them. */
export function benchKeys(o: Pick<ResolvedBenchOptions, 'reads' | 'warmup'>): { warmup: string[]; measured: string[] } {
  return {
    warmup: Array.from({ length: o.warmup }, (_, i) => keyName('warm', i)),
    measured: Array.from({ length: o.reads }, (_, i) => keyName('obj', i)),
  };
}

interface Snapshot {
  requests: number[];
  usage: BenchResult['usage'];
  hedges: BenchResult['hedges'];
}

/** One strategy × executor cell; measured in rounds interleaved with the other cells. */
class Cell {
  readonly #o: ResolvedBenchOptions;
  readonly #world: World;
  readonly #s: Strategy;
  readonly #exec: BenchExecutor;
  readonly #read: (key: string) => Promise<unknown>;
  readonly #samples: number[] = [];
  #errors = 0;
  #firstError: string | undefined;
  #elapsedMs = 0;
  readonly #requests: number[];
  readonly #usage = { apiRequests: 0, egressBytes: 0 };
  readonly #hedges = { sent: 0, won: 0, budgetExhausted: 0 };

  constructor(o: ResolvedBenchOptions, world: World, s: Strategy, exec: BenchExecutor) {
    this.#o = o;
    this.#world = world;
    this.#s = s;
    this.#exec = exec;
    this.#requests = world.names.map(() => 0);
    if (s.kind === 'direct') {
      this.#read = (key) => world.direct(s.backend, key);
      return;
    }
    const recorder = exec.recorder;
    const names = world.names;
    const core: Core = { backends: () => world.backends, backendOrder: () => names, acct: () => recorder };
    const store = new MemoryMetadataStore();
    store.setAvailable(false);
    const failover = new Failover({
      core,
      stores: store,
      cache: NO_CACHE,
      ...failoverOptionsFor(s, recorder, { percentile: o.hedgePercentile, maxExtraLoad: o.maxExtraLoad }),
    });
    this.#read = (key) => failover.read('GetObject', key, exec.probe(key));
  }

  get name(): string {
    return `${strategyName(this.#s)}/${this.#s.kind === 'direct' ? 'inline' : this.#exec.kind}`;
  }

  async #snap(): Promise<Snapshot> {
    return { requests: await this.#world.requestCounts(), usage: usageOf(this.#exec.recorder, this.#world.names), hedges: hedgeCounts(this.#exec.recorder) };
  }

  /**
   * A snapshot once the backends' request counters have stopped moving: cancelled losers of the
   * reads just finished (a warm-up's, or the round's) may reach their backends a little after
   * the read itself resolved — later on a loaded machine — and must be counted on the right
   * side of the round's boundary. Polls until two readings 10 ms apart agree (at most ~1 s).
   */
  async #settledSnap(): Promise<Snapshot> {
    let last = await this.#world.requestCounts();
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const now = await this.#world.requestCounts();
      if (now.length === last.length && now.every((n, j) => n === last[j])) break;
      last = now;
    }
    return this.#snap();
  }

  /** Read `keys` (after `warmup` ones, not measured) with tinybench, adding to the totals. */
  async round(warmup: readonly string[], keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    let list = warmup;
    let next = 0;
    let counting = false;
    let t0 = 0;
    let before: Snapshot | undefined;
    // Loaded on first use: importing the package (which re-exports the harness) must not need it.
    const { Bench } = await import('tinybench');
    const bench = new Bench({
      concurrency: 'task',
      threshold: this.#o.concurrency,
      iterations: keys.length,
      time: 0,
      warmup: warmup.length > 0,
      warmupIterations: warmup.length,
      warmupTime: 0,
      retainSamples: true,
      throws: true,
    });
    bench.add(this.name, async () => {
      const key = list[next++ % list.length] as string;
      try {
        await this.#read(key);
      } catch (err) {
        if (counting) {
          this.#errors++;
          this.#firstError ??= messageOf(err);
        }
      }
    }, {
      beforeAll: async (mode) => {
        list = mode === 'run' ? keys : warmup;
        next = 0;
        if (mode !== 'run') return;
        before = await this.#settledSnap();
        counting = true;
        t0 = performance.now();
      },
      afterAll: async (mode) => {
        if (mode !== 'run') return;
        this.#elapsedMs += performance.now() - t0;
        counting = false;
        const after = await this.#settledSnap();
        const b = before as NonNullable<typeof before>;
        after.requests.forEach((n, i) => {
          this.#requests[i] = (this.#requests[i] ?? 0) + n - (b.requests[i] ?? 0);
        });
        this.#usage.apiRequests += after.usage.apiRequests - b.usage.apiRequests;
        this.#usage.egressBytes += after.usage.egressBytes - b.usage.egressBytes;
        this.#hedges.sent += after.hedges.sent - b.hedges.sent;
        this.#hedges.won += after.hedges.won - b.hedges.won;
        this.#hedges.budgetExhausted += after.hedges.budgetExhausted - b.hedges.budgetExhausted;
      },
    });
    await bench.run();
    const res = bench.tasks[0]?.result;
    if (res === undefined || !('latency' in res)) {
      const why = res !== undefined && 'error' in res ? messageOf((res as { error: unknown }).error) : `state ${res?.state ?? 'unknown'}`;
      throw new Error(`bench cell ${this.name} did not complete: ${why}`);
    }
    for (const x of res.latency.samples ?? []) this.#samples.push(x);
  }

  result(): { result: BenchResult; samples: Float64Array } {
    const o = this.#o;
    const samples = Float64Array.from(this.#samples).sort();
    const n = samples.length;
    const backendRequests: Record<string, number> = {};
    let requests = 0;
    this.#world.names.forEach((name, i) => {
      backendRequests[name] = this.#requests[i] ?? 0;
      requests += this.#requests[i] ?? 0;
    });
    const elapsed = this.#elapsedMs / 1000;
    const result: BenchResult = {
      world: o.world,
      strategy: strategyName(this.#s),
      executor: this.#s.kind === 'direct' ? 'inline' : this.#exec.kind,
      reads: n,
      p50Ms: round(percentile(samples, 50)),
      p95Ms: round(percentile(samples, 95)),
      p99Ms: round(percentile(samples, 99)),
      p999Ms: round(percentile(samples, 99.9)),
      readsPerSec: round(elapsed > 0 ? n / elapsed : NaN, 1),
      requestsPerRead: round(n > 0 ? requests / n : NaN, 4),
      scenario: o.scenario,
      meanMs: round(mean(samples)),
      maxMs: round(samples[n - 1] ?? NaN),
      concurrency: o.concurrency,
      errors: this.#errors,
      backendRequests,
      usage: { ...this.#usage },
      hedges: { ...this.#hedges },
    };
    if (this.#firstError !== undefined) result.firstError = this.#firstError;
    return { result, samples };
  }
}

/** The JSON form of a report (API.md §4): `{ results: [...] }` plus the run's parameters. */
export function toBenchJson(report: BenchReport): object {
  const { samples: _samples, ...rest } = report;
  return rest;
}

/**
 * Run the broadcast benchmark. Validates options first (INVALID_CONFIG naming the flag), runs
 * every strategy × executor cell, writes `json`/`chart` when given, and resolves with the
 * report. Cells that cannot run (e.g. the pool executor where it is unavailable) are listed in
 * `skipped`, not fatal. Direct baselines run once, on the main thread.
 */
export async function runBroadcastBench(options: BenchOptions): Promise<BenchReport> {
  const o = resolveBenchOptions(options);
  const progress = options.onProgress;
  const startedAt = new Date();
  const t0 = performance.now();
  const keys = benchKeys(o);
  const skipped: SkippedCell[] = [];
  const world = await openWorld(o, [...keys.warmup, ...keys.measured]);
  const executors: BenchExecutor[] = [];
  const cells: Cell[] = [];
  try {
    const broadcast = o.strategies.filter((s) => s.kind !== 'direct');
    // Direct baselines do not depend on the executor: once, on the main thread.
    for (const s of o.strategies) if (s.kind === 'direct') cells.push(new Cell(o, world, s, inlineExecutor()));
    for (const kind of o.executors) {
      if (kind === 'inline') {
        // Fresh accounting per cell.
        for (const s of broadcast) cells.push(new Cell(o, world, s, inlineExecutor()));
        continue;
      }
      const opened = await openPoolExecutor(world.pool, o.threads);
      if ('skip' in opened) {
        for (const s of broadcast) skipped.push({ strategy: strategyName(s), executor: kind, reason: opened.skip });
        progress?.(`skipped ${broadcast.length} ${kind} cell(s): ${opened.skip}`);
        continue;
      }
      executors.push(opened);
      // One pool for all its cells (threads are costly); each cell reads its own deltas.
      for (const s of broadcast) cells.push(new Cell(o, world, s, opened));
    }
    await warmWorld(o, world, keys.warmup);
    const rounds = Math.min(o.rounds, o.reads);
    for (let r = 0; r < rounds; r++) {
      const slice = keys.measured.slice(Math.floor((r * o.reads) / rounds), Math.floor(((r + 1) * o.reads) / rounds));
      for (const [i, cell] of cells.entries()) {
        await cell.round(r === 0 ? keys.warmup : [], slice);
        progress?.(`round ${r + 1}/${rounds}, cell ${i + 1}/${cells.length}: ${cell.name}`);
      }
    }
  } finally {
    for (const e of executors) await e.close();
    await world.close();
  }
  const results: BenchResult[] = [];
  const samples: Float64Array[] = [];
  for (const cell of cells) {
    const r = cell.result();
    results.push(r.result);
    samples.push(r.samples);
  }
  const report: BenchReport = {
    scenario: o.scenario,
    world: o.world,
    latency: o.latency,
    seed: o.seed,
    concurrency: o.concurrency,
    objectSize: o.objectSize,
    rounds: o.rounds,
    poolThreads: executors.find((e) => e.kind === 'pool')?.threads ?? null,
    node: process.version,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    results,
    skipped,
    samples,
  };
  if (o.json !== undefined) await writeFile(o.json, JSON.stringify(toBenchJson(report), null, 2) + '\n');
  if (o.chart !== undefined) await writeFile(o.chart, renderCdfSvg(report));
  return report;
}

/**
 * Warm the backends themselves (JIT, sockets) before the first cell, so it does not pay for
 * the cold start the later ones skip: a few direct reads from every backend.
 */
async function warmWorld(o: ResolvedBenchOptions, world: World, keys: readonly string[]): Promise<void> {
  if (o.world !== 's3' || keys.length === 0) return;
  for (const name of world.names) {
    for (let i = 0; i < Math.min(keys.length, 50); i++) {
      try {
        await world.direct(name, keys[i] as string);
      } catch {
        // Failing and down backends fail here too; that is their model.
      }
    }
  }
}

/**
 * Chooses where probes run for a ReadPath: on the main thread, or in the worker pool, and
 * keeps the per-backend circuit breakers in charge either way.
 */
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from 'pino';
import { CircuitBreakerBackend } from '../policies/backend-breaker.js';
import type { HeadResult, Probe } from '../types.js';
import type { Parts } from '../assemble.js';
import { InlineExecutor, type ProbeExecutor, type ProbeGetOptions, type FetchedObject, type TransformedValue } from './executor.js';
import { PoolExecutor } from './pool/executor.js';

export type { ProbeExecutor } from './executor.js';

/** What decides the executor beyond the configuration. */
export interface ExecutorChoice {
  /** Backends were given as objects: they cannot be shipped to workers, so probes run inline. */
  customBackends?: boolean;
  /** A module building the workers' backends (pool only). */
  backendModule?: string | URL;
  backendData?: unknown;
  logger?: Logger;
}

/**
 * Build the executor the configuration asks for. Backends given as objects (embedding, tests)
 * cannot be shipped to worker threads, so they always run inline.
 */
export async function createExecutor(config: ResolvedConfig, parts: Parts, opts: ExecutorChoice = {}): Promise<ProbeExecutor> {
  if (config.runtime.mode === 'inline' || opts.customBackends === true) {
    if (config.runtime.mode === 'pool') opts.logger?.debug('runtime.mode pool with backend objects given in code: probes run inline');
    return new InlineExecutor({ recorder: parts.recorder });
  }
  const pool = PoolExecutor.fromConfig(config, {
    recorder: parts.recorder,
    ...(opts.backendModule === undefined ? {} : { backendModule: opts.backendModule, backendData: opts.backendData }),
  });
  const breakers = new Map<string, CircuitBreakerBackend>();
  for (const [name, b] of parts.backends) if (b instanceof CircuitBreakerBackend) breakers.set(name, b);
  return breakers.size === 0 ? pool : new BreakerGatedExecutor(pool, breakers);
}

/**
 * Pooled probes reach backends through the workers' own clients, not through the main-thread
 * backend objects the breakers wrap; this gate runs each pooled probe through its backend's
 * breaker so an open breaker still answers BACKEND_UNAVAILABLE without dispatching.
 */
class BreakerGatedExecutor implements ProbeExecutor {
  readonly kind = 'pool' as const;
  readonly #inner: ProbeExecutor;
  readonly #breakers: ReadonlyMap<string, CircuitBreakerBackend>;

  constructor(inner: ProbeExecutor, breakers: ReadonlyMap<string, CircuitBreakerBackend>) {
    this.#inner = inner;
    this.#breakers = breakers;
  }

  #gate<T>(probe: Probe<T>): Probe<T> {
    return (req) => {
      const b = this.#breakers.get(req.backendName);
      return b === undefined ? probe(req) : b.guard(req.signal, () => probe(req));
    };
  }

  head(key: string): Probe<HeadResult> {
    return this.#gate(this.#inner.head(key));
  }

  get(key: string, opts?: ProbeGetOptions & { transform?: undefined }): Probe<FetchedObject>;
  get(key: string, opts: ProbeGetOptions & { transform: string | URL }): Probe<TransformedValue>;
  get(key: string, opts?: ProbeGetOptions): Probe<FetchedObject | TransformedValue>;
  get(key: string, opts: ProbeGetOptions = {}): Probe<FetchedObject | TransformedValue> {
    return this.#gate(this.#inner.get(key, opts));
  }

  saturated(): boolean { return this.#inner.saturated(); }
  whenCapacity(): Promise<void> { return this.#inner.whenCapacity(); }
  stats(): ReturnType<ProbeExecutor['stats']> { return this.#inner.stats(); }
  close(opts?: Parameters<ProbeExecutor['close']>[0]): Promise<void> { return this.#inner.close(opts); }
}

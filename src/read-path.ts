/**
 * ReadPath: the product facade (API.md §3). One configuration in; `get`, `head` and
 * `readMany` out. A thin public class over a private engine: validation at the edge, every
 * async method rejects rather than throws, `close()` drains then destroys and is idempotent.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { storedKeyOf } from './probe/stored-copy.js';
import { ReadPathError, abortedError, hasCode, messageOf, serializeError, type ErrorCode, type SerializedError } from './errors.js';
import { loadConfig, type LoadConfigOptions } from './config/load.js';
import type { ReadPathConfig, ResolvedConfig } from './config/types.js';
import { Failover } from './engine/failover.js';
import type { FetchedObject } from './probe/decode.js';
import { storedSha256 } from './probe/verify.js';
import { headFromRow } from './probe/answer.js';
import { ObjectCache, cachedHeadOf, type CachedHead, type CachedObject } from './cache/object-cache.js';
import { METRIC } from './telemetry/recorder.js';
import type { HeadResult, ListKeysOptions, ListedObject, MetadataStore, ObjectLocation, ObjectTag, Probe } from './types.js';
import { assemble, type PartOverrides, type Parts } from './assemble.js';
import { runBatch } from './engine/batch.js';
import { assertValidKey } from './engine/keys.js';
import { createExecutor } from './executors/factory.js';
import type { ProbeExecutor } from './executors/executor.js';
import type { TransformedValue, WrittenObject } from './executors/executor.js';
import { FileSink } from './sinks/file-sink.js';
import { listAllKeys } from './stores/key-listing.js';
import { createLogger } from './telemetry/logger.js';
import { MetricsExporter, type Family } from './telemetry/metrics.js';
import { activeTracing, failSpan, maskSpanText } from './telemetry/tracing.js';
import { configSecrets } from './config/mask.js';
import { hedgingFromConfig } from './policies/hedging.js';
import { SingleFlight } from './engine/single-flight.js';
import { canonicalRange, checkRangeSyntax, resolveRange, spanLength, type ByteSpan } from './ranges/byte-range.js';
import type { OffloadedDigest } from './streams/digest-thread.js';
import { openObjectStream, type ServingCopy, type StreamCopy, type StreamSource } from './streams/object-stream.js';
import { openStripedStream, shouldStripe, stripeCopies } from './streams/striped-stream.js';
import { objectSizeOf } from './streams/segment.js';
import { LiveStreams } from './streams/live-streams.js';
import type { StoredAs } from './compression/degraded.js';

/** What `head` returns. */
export interface HeadOutcome extends HeadResult {
  key: string;
  backend: string;
  degraded: boolean;
  failover: boolean;
  /**
   * The object's SHA-256 (hex) as the metadata database holds it — the hash a whole body is
   * verified against (of the plaintext, for encrypted objects) — when the serving copy's row has
   * a well-formed one. Absent in degraded mode. The gateway sends it as `x-amz-checksum-sha256`.
   */
  contentSha256?: string;
  /**
   * A HEAD answered from the metadata alone (`head.from_metadata`: the object's first row carries
   * its ETag): no backend was asked; `backend` names the copy the row describes.
   */
  fromMetadata?: true;
  /** How many tags the object has (s3-orchestrator's `object_tags`), when it has any; see `tags()`. */
  tagCount?: number;
  /**
   * Degraded mode (no row; on HEAD outcomes, and GET outcomes of a decoded copy): where and how
   * the copy that answered is stored — its storage key (the key, or upstream's `{key}!{id}` copy
   * the listing found) and stored size, and `compression` when it is s3-orchestrator's compressed
   * layout, found from its own bytes and decoded (`size` is then the object's, and the ETag the
   * stored one in multipart form, `"…-1"`).
   */
  storedAs?: StoredAs;
}

/** What `get` returns. */
export interface GetOutcome extends HeadOutcome {
  body: Uint8Array;
  /**
   * True when the body matched the stored content_hash; false when there was none to check
   * (NULL column, degraded mode). A mismatch is never served.
   */
  verified: boolean;
}

/** `getStream`'s `into`: a buffer, or one picked once the span's length is known (undefined: none). */
export type StreamInto = Buffer | ((spanLength: number) => Buffer | undefined);

/** What `getStream` returns: the body as a stream, verified as it passes. */
export interface StreamOutcome extends HeadOutcome {
  /**
   * The body. For a whole read with a content_hash it emits `'end'` only after the bytes matched
   * it; on a mismatch it is destroyed with INTEGRITY_MISMATCH instead. A copy that fails
   * mid-body is replaced by another at the same offset, unseen here but in `backends`.
   */
  body: Readable;
  /** Settles when the body ends: true when the whole body matched content_hash; false otherwise. */
  verified: Promise<boolean>;
  /**
   * Backends that served the body, in order, `backend` first — only copies some of whose bytes
   * the consumer got: more than one after a mid-body failover, or when the body was
   * {@link striped} (then in the order of the first part each served). It grows as the body is
   * read. A plain stream resolves once a copy has answered, before its bytes: when that copy
   * sends none of the bytes handed on (its body fails before its first byte, or a body held for
   * its check is found damaged and read again from another copy), `backend`, `failover`, the
   * head fields and `backends` are corrected, in place, to the copy that does, before the first
   * byte is handed on.
   */
  backends: readonly string[];
  /**
   * The body was read in parts from several copies at once (`striping:`): every copy that served
   * a part is in `backends`, failover or not, and only those. `backend` is the copy that served
   * the first part — the first byte — which is not always the first to answer: a copy whose
   * first part was cut is left and the part fetched again elsewhere (`failover` then says the
   * first byte came from a copy after the first stored one).
   */
  striped: boolean;
  /** The span of the object the body holds (absolute offsets; `total` is the object's size). */
  range: ByteSpan;
}

/** What `get` with a `transform` returns: the transform's result instead of the body. */
export interface TransformedOutcome<V = unknown> extends HeadOutcome {
  /** What the transform module's default export returned for the verified body. */
  value: V;
  verified: boolean;
}

/** What `readMany` with `out` yields per key: where the verified body was written. */
export interface WrittenOutcome extends HeadOutcome {
  /** The file written, relative to the output directory: the key itself. */
  path: string;
  verified: boolean;
}

/** One outcome of `readMany`. */
export type BatchOutcome =
  | ({ key: string; ok: true } & (GetOutcome | HeadOutcome | TransformedOutcome | WrittenOutcome))
  | { key: string; ok: false; error: { code: ErrorCode; message: string; httpStatus: number } };

/** Options of `readMany`. */
export interface ReadManyOptions {
  op?: 'get' | 'head' | undefined;
  /** Keys in flight (or finished and not yet consumed) at once. Default 64. */
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  /** GET only: byte range applied to every key. */
  range?: string | undefined;
  /**
   * The longest the batch runs before it lets the event loop turn, in ms (default 10; see
   * {@link RunBatchOptions.timeSliceMs}). Matters when reads settle without I/O.
   */
  timeSliceMs?: number | undefined;
  /** GET only: a transform module run on every verified body (in the worker with the pool). */
  transform?: string | URL | undefined;
  /**
   * GET only: write each verified body to this directory at the key's path (created when absent;
   * never outside it, whatever the key: see sinks/file-sink.ts), where it was read — in the
   * probe's worker with the pool — instead of returning it. Outcomes carry `path`; a body that
   * cannot be written is a WRITE_FAILED outcome (INVALID_KEY for a key that cannot map to a path);
   * a directory that is not one, or that this process cannot write, fails the batch with
   * INVALID_CONFIG before any read.
   */
  out?: string | undefined;
}

/** Options of {@link ReadPath.open} beyond the configuration. */
export interface OpenOptions extends PartOverrides, LoadConfigOptions {
  /** Logger to use instead of one built from `logging.level`. */
  logger?: Logger | undefined;
  /**
   * With `runtime.mode: pool`: an ESM module (path or file: URL) whose `createBackends(data)`
   * (or default export) builds the backends inside each worker, instead of S3 clients from
   * `backends[]` — custom backends for the pool, where objects given in `backends` cannot go.
   * Names must match the configured backends (which still give the order).
   */
  backendModule?: string | URL | undefined;
  /** Structured-cloneable data handed to `backendModule` in every worker. */
  backendData?: unknown;
  /**
   * Where probes run, whatever `runtime.mode` says: a reader that makes one read (the CLI's
   * `get` and `head`) has no use for worker threads it would have to start first.
   */
  mode?: 'inline' | 'pool' | undefined;
}


/**
 * What a caller that joined another's read gets: an outcome of its own, and a body of its own —
 * the same bytes, but writing to one caller's body must not change another's. (A transform's
 * value is the transform's to share or not.)
 */
function ownCopy<T extends object>(o: T): T {
  const copy = { ...o };
  const body = (copy as { body?: unknown }).body;
  if (body instanceof Uint8Array) (copy as { body: Uint8Array }).body = new Uint8Array(body);
  return copy;
}

/**
 * Whether a stream reads (and checks) its object whole: no range, or a range of an empty object
 * (a suffix: all there is).
 */
function readsWhole(range: string | undefined, span: ByteSpan): boolean {
  return range === undefined || span.total === 0;
}

/**
 * Not part of the contract (index.ts does not export it): a reader from a configuration already
 * resolved, no file read again. `readpath serve`'s gateway processes open the one their primary
 * loaded, so a replacement serves what the others serve, not whatever the file says by then.
 */
export function openResolved(config: ResolvedConfig, opts: OpenOptions = {}): Promise<ReadPath> {
  return openResolvedReadPath(config, opts);
}
let openResolvedReadPath: (config: ResolvedConfig, opts: OpenOptions) => Promise<ReadPath>;

/** Reads replicated objects with failover, verification and degraded-mode broadcast. */
export class ReadPath {
  readonly #config: ResolvedConfig;
  #secrets: readonly string[] | undefined;
  readonly #parts: Parts;
  readonly #failover: Failover;
  readonly #executor: ProbeExecutor;
  readonly #logger: Logger;
  readonly #metrics: MetricsExporter;
  readonly #flights = new SingleFlight();
  /** `cache:`: verified small bodies, used while their row's hash is unchanged. */
  readonly #objects: ObjectCache | undefined;
  /** Streams being read: `close()` ends them with the closed reader's error. */
  readonly #streams = new LiveStreams();
  #batches = 0;
  #closing: Promise<void> | undefined;

  private constructor(config: ResolvedConfig, parts: Parts, executor: ProbeExecutor, logger: Logger) {
    this.#config = config;
    this.#parts = parts;
    this.#executor = executor;
    this.#logger = logger;
    const cb = config.circuitBreaker;
    this.#failover = new Failover({
      core: { backends: () => parts.backends, backendOrder: () => parts.order, acct: () => parts.recorder },
      stores: parts.store,
      cache: parts.cache,
      parallelBroadcast: cb.parallelBroadcast,
      degradedBroadcastParallelism: cb.degradedBroadcastParallelism,
      degradedReadsEnabled: cb.degradedReadsEnabled,
      drainTimeoutMs: cb.drainTimeoutMs,
      hedgePolicy: hedgingFromConfig(config, parts.recorder),
      launchOrder: config.broadcast.launchOrder,
      staggerLaunches: config.broadcast.stagger,
    });
    const objects = config.cache.enabled ? new ObjectCache(config.cache) : undefined;
    this.#objects = objects;
    this.#metrics = new MetricsExporter(parts.recorder, () => parts.breakerStates(), parts.order, objects === undefined ? undefined : () => ({ bytes: objects.bytes, objects: objects.size }));
  }

  /**
   * Open a reader from a configuration object or a YAML file path (s3-orchestrator-compatible
   * keys). Rejects with INVALID_CONFIG naming the field at fault.
   */
  static async open(config: ReadPathConfig | string, opts: OpenOptions = {}): Promise<ReadPath> {
    return ReadPath.#openResolved(await loadConfig(config, opts), opts);
  }

  static {
    openResolvedReadPath = (loaded, opts) => ReadPath.#openResolved(loaded, opts);
  }

  static async #openResolved(loaded: ResolvedConfig, opts: OpenOptions): Promise<ReadPath> {
    const resolved = opts.mode === undefined || opts.mode === loaded.runtime.mode ? loaded : { ...loaded, runtime: { ...loaded.runtime, mode: opts.mode } };
    const logger = opts.logger ?? createLogger(resolved.logging.level);
    const parts = await assemble(resolved, { ...opts, warn: opts.warn ?? ((m) => logger.warn(m)) });
    let executor: ProbeExecutor;
    try {
      executor = createExecutor(resolved, parts, {
        ...(opts.backendModule === undefined ? {} : { backendModule: opts.backendModule, backendData: opts.backendData }),
        logger,
      });
    } catch (err) {
      await parts.close();
      throw err;
    }
    const rt = resolved.runtime;
    logger.debug({ backends: parts.order, database: resolved.database.driver, runtime: rt.mode, ...(rt.mode === 'pool' ? { threads: rt.threads } : {}) }, 'readpath opened');
    return new ReadPath(resolved, parts, executor, logger);
  }

  /** The resolved configuration (secrets included: do not log it; see maskConfig). */
  get config(): ResolvedConfig {
    return this.#config;
  }

  /** The metadata store reads go through (unwrapped), e.g. to seed a SQLite file. */
  get store(): MetadataStore {
    return this.#parts.rawStore;
  }

  /**
   * One page of the metadata store's key listing (through the store's circuit breaker, so an
   * outage answers DB_UNAVAILABLE at once while the breaker is open): distinct keys after
   * `startAfter` that start with `prefix`, ascending in UTF-8 byte order, at most `limit`.
   * INVALID_CONFIG when the store cannot list (a custom store without `listKeys`).
   */
  listKeys(opts: ListKeysOptions): Promise<ListedObject[]> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    const store = this.#parts.store;
    if (typeof store.listKeys !== 'function') return Promise.reject(new ReadPathError('INVALID_CONFIG', 'the metadata store cannot list keys (it has no listKeys)'));
    return store.listKeys(opts);
  }

  /**
   * An object's tag set (S3 object tagging, as s3-orchestrator keeps it in its `object_tags`
   * table: the object's, whichever copy serves), ascending by tag key; `[]` for an untagged object
   * (or a custom store that keeps no tags). From the database alone: OBJECT_NOT_FOUND when the
   * object has no row, DB_UNAVAILABLE while the store is down (there is no copy to ask).
   */
  tags(key: string, opts: { signal?: AbortSignal } = {}): Promise<ObjectTag[]> {
    const { signal } = opts;
    return this.#guard(key, signal, async () => {
      const store = this.#parts.store;
      await store.getAllObjectLocations(key, signal === undefined ? undefined : { signal });
      if (typeof store.getObjectTags !== 'function') return [];
      return store.getObjectTags(key, signal === undefined ? undefined : { signal });
    });
  }

  /**
   * Every key the metadata store lists under `prefix` (`''`: every key), in S3's order, fetched
   * a page of `pageSize` (default 1000) at a time as the loop asks for more — feed it to
   * {@link readMany} to read a whole prefix in constant memory:
   * `rp.readMany(rp.keysUnder('photos/2024/'), { out: './2024' })`. A page that fails
   * (DB_UNAVAILABLE) throws to the loop; INVALID_CONFIG when the store cannot list.
   */
  keysUnder(prefix = '', opts: { signal?: AbortSignal | undefined; pageSize?: number | undefined } = {}): AsyncGenerator<string, void, undefined> {
    return listAllKeys((o) => this.listKeys(o), prefix, opts);
  }

  /** Circuit breaker states: the metadata store's and each backend's. */
  breakerStates(): ReturnType<Parts['breakerStates']> {
    return this.#parts.breakerStates();
  }

  /** The recorder: usage and the core's metrics. */
  get recorder(): Parts['recorder'] {
    return this.#parts.recorder;
  }

  /** Prometheus text exposition of every readpath metric. */
  metrics(): Promise<string> {
    return this.#metrics.render();
  }

  /**
   * This process's metric families as plain data, for a process that combines several processes'
   * (`readpath serve` with `server.processes` > 1; src/telemetry/metrics-aggregate.ts).
   */
  metricFamilies(): Family[] {
    return this.#metrics.processFamilies();
  }

  /** Content type of {@link metrics}' output. */
  get metricsContentType(): string {
    return this.#metrics.contentType;
  }

  /** Read a whole object, verified against its stored hash before it is returned. */
  get(key: string, opts?: { signal?: AbortSignal | undefined; range?: string | undefined; transform?: undefined }): Promise<GetOutcome>;
  /**
   * Read an object and run a transform module's default export `(bytes, info)` on its verified
   * body (inside the worker with the pool executor): decompress, parse, filter.
   */
  get<V = unknown>(key: string, opts: { signal?: AbortSignal | undefined; range?: string | undefined; transform: string | URL }): Promise<TransformedOutcome<V>>;
  get(key: string, opts: { signal?: AbortSignal | undefined; range?: string | undefined; transform?: string | URL | undefined } = {}): Promise<GetOutcome | TransformedOutcome> {
    return this.#get(key, opts, opts.signal, undefined);
  }

  /**
   * Join a shared read of `sfKey`. `batch` names the batch whose one signal every caller waits
   * under (readMany): then the read runs under that signal itself and is shared only within the
   * batch; otherwise each caller may leave alone (SingleFlight.run).
   */
  #join<T extends object>(sfKey: string, signal: AbortSignal | undefined, batch: string | undefined, start: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (batch !== undefined && signal !== undefined) return this.#flights.runUnder(batch + sfKey, signal, start, ownCopy);
    return this.#flights.run(sfKey, signal, start, ownCopy);
  }

  #get(key: string, opts: { range?: string | undefined; transform?: string | URL | undefined }, signal: AbortSignal | undefined, batch: string | undefined): Promise<GetOutcome | TransformedOutcome> {
    return this.#guard(key, signal, () => {
      const { transform } = opts;
      // As getStream refuses it: a range no object has is not sent to the copies to interpret.
      if (opts.range !== undefined) checkRangeSyntax(opts.range);
      // What the copies are sent (and what shares a flight): `bytes=a-b`, which every backend
      // reads, not `Bytes=a-b` or a list with empty elements, which some ignore.
      const range = opts.range === undefined ? undefined : (canonicalRange(opts.range) ?? opts.range);
      const sfKey = `g\u0000${range ?? ''}\u0000${transform === undefined ? '' : String(transform)}\u0000${key}`;
      const integrity = this.#config.integrity;
      const probeOpts = { verify: integrity.verifyOnRead, verifyEtag: integrity.verifyEtag, maxBytes: this.#config.runtime.maxBufferedBytes, ...(range === undefined ? {} : { range }) };
      const cache = this.#objects;
      if (cache !== undefined && range === undefined && transform === undefined) {
        return this.#join(sfKey, signal, batch, (shared) => this.#cachedGet(cache, key, shared, () => this.#executor.get(key, probeOpts)));
      }
      return this.#join(sfKey, signal, batch, (shared) => {
        const probe = transform === undefined ? this.#executor.get(key, probeOpts) : this.#executor.get(key, { ...probeOpts, transform });
        return this.#read<FetchedObject | TransformedValue>('GetObject', key, probe, shared)
          .then((o): GetOutcome | TransformedOutcome => ({ key, backend: o.backend, degraded: o.degraded, failover: o.failover, ...rowFields(o.location), ...o.value }));
      });
    });
  }

  /**
   * A whole `get` with the object cache: the row's hash picks the entry (a copy of its bytes is
   * the answer, no backend asked); otherwise the read goes as usual and a verified body that
   * fits is kept. The store is asked first only while its breaker is closed: an outage goes
   * straight to the failover's degraded path, as without the cache.
   */
  async #cachedGet(cache: ObjectCache, key: string, signal: AbortSignal, probe: () => Probe<FetchedObject>): Promise<GetOutcome> {
    const { hit, sha, size, ahead } = await this.#cachedEntry(cache, key, signal);
    const rows = ahead.rows;
    if (hit !== undefined && sha !== undefined && size !== undefined) {
      // A copy: the caller may do what it likes with its bytes, the cache's stay as they were.
      this.#answeredLocally('GetObject', key, 'cache', size);
      return { key, backend: hit.backend, degraded: false, failover: false, ...rowFields(rows?.[0]), contentSha256: sha, size, ...definedHead(hit.head), body: new Uint8Array(hit.body), verified: true };
    }
    const o = await this.#read<FetchedObject>('GetObject', key, probe(), signal, ahead);
    const out: GetOutcome = { key, backend: o.backend, degraded: o.degraded, failover: o.failover, ...rowFields(o.location), ...o.value };
    const v = o.value;
    // Kept only when the body read is the one the looked-up row describes, and verified against it.
    if (sha !== undefined && !o.degraded && v.verified && out.contentSha256 === sha && v.body.byteLength === size && cache.fits(size)) {
      cache.set(key, { sha256: sha, body: Buffer.from(v.body.buffer, v.body.byteOffset, v.body.byteLength), head: cachedHeadOf(v), backend: o.backend });
    }
    return out;
  }

  /**
   * Read `key` and have the probe write its verified body under `root` (readMany's `out`);
   * `outScope` names the batch (see ProbeGetOptions.outScope).
   */
  #getTo(key: string, root: string, outScope: string, signal: AbortSignal, batch: string): Promise<WrittenOutcome> {
    return this.#guard(key, signal, () => this.#join(`w\u0000${root}\u0000${key}`, signal, batch, (shared) => {
      const integrity = this.#config.integrity;
      const probe = this.#executor.get(key, { verify: integrity.verifyOnRead, verifyEtag: integrity.verifyEtag, out: root, outScope });
      return this.#read<WrittenObject>('GetObject', key, probe, shared).then((o): WrittenOutcome => {
        const { writeError, path, ...head } = o.value;
        // The copy was read and verified; only putting it on disk failed: no other copy would help.
        if (writeError !== undefined || path === undefined) throw writeError;
        return { key, backend: o.backend, degraded: o.degraded, failover: o.failover, ...rowFields(o.location), ...head, path };
      });
    }));
  }

  /**
   * Stream an object in bounded memory, whatever its size (API.md §5). Resolves once a copy has
   * answered — a striped read once its first part is whole (its bytes come first anyway), so that
   * the outcome names the copy that served them. The body is read only as fast as it is consumed,
   * hashed as it passes, and continued from another copy by Range if its copy fails mid-body.
   * `range` is `bytes=a-b`, `bytes=a-` or `bytes=-n` (RANGE_NOT_SATISFIABLE past the end); a
   * ranged body is not verified.
   *
   * `into`: memory the body may be read into when the span fits it (a plain copy over the lean
   * transport and plain HTTP: no allocation per socket read, which spares the reading thread
   * garbage collections at high rates) — a buffer, or a function given the span's length once it
   * is known that returns one (or undefined for none). The body's chunks are then views of it;
   * do not reuse it until the body has closed and none of its chunks is needed any more. The
   * gateway reads objects up to 1 MiB this way.
   *
   * `digest`: with `into`, computes the check's digest of a body held whole in it (up to 1 MiB)
   * instead of this thread — a `DigestThread`'s, over `into` in a SharedArrayBuffer. The
   * gateway's main thread hands its bodies' SHA-256 to one this way.
   */
  getStream(key: string, opts: { signal?: AbortSignal | undefined; range?: string | undefined; into?: StreamInto | undefined; digest?: OffloadedDigest | undefined } = {}): Promise<StreamOutcome> {
    const signal = opts.signal;
    // The span covers finding a copy and its answer (as upstream's GetObject span does), not the
    // body's transfer, which the consumer paces.
    return this.#guard(key, signal, () => this.#traced('GetObject', key, () => this.#openStream(key, opts.range, signal, opts.into, opts.digest), (o) => ({
      backend: FROM_CACHE.has(o) ? 'cache' : o.backend, failover: o.failover, degraded: o.degraded, cacheHit: LOCATION_CACHE_HITS.has(o), size: o.size,
    })));
  }

  async #openStream(key: string, range: string | undefined, signal: AbortSignal | undefined, into: StreamInto | undefined, digest: OffloadedDigest | undefined): Promise<StreamOutcome> {
    const start = performance.now();
    const src = await this.#streamSource(key, range, signal);
    // Closed while the copies were looked up: no copy is opened on closing backends.
    if (this.#closing !== undefined) throw closedError();
    const n = spanLength(src.span);
    const buf = typeof into === 'function' ? into(n) : into;
    if (buf !== undefined && n <= buf.length) {
      src.into = buf;
      src.digest = digest;
    }
    // The object cache, only for a row with a hash to check the entry against (never degraded).
    const cache = this.#objects;
    const { hit, sha, size } = cache === undefined || src.degraded ? NO_ENTRY : this.#cacheEntryFor(cache, key, src.copies[0]?.location ?? undefined);
    if (hit !== undefined) return fromCache(key, hit, src);
    const integrity = this.#config.integrity;
    const policies = {
      recorder: this.#parts.recorder,
      breakers: this.#parts.breakers,
      idleTimeoutMs: this.#config.runtime.streamIdleTimeoutMs,
      openTimeoutMs: this.#config.server.backendTimeoutMs,
      verify: integrity.verifyOnRead,
      verifyEtag: integrity.verifyEtag,
      keys: this.#parts.keys(),
      storageKeys: this.#config.broadcast.storageKeys,
      live: this.#streams,
      owner: this.#parts.probes,
    };
    const striping = this.#config.striping;
    const stripeOver = striping.enabled ? stripeCopies(src, policies.keys !== undefined) : [];
    const striped = striping.enabled && shouldStripe(src, stripeOver, striping.minSize);
    const s = striped
      ? await openStripedStream(src, stripeOver, policies, { partSize: striping.partSize, partsInFlight: striping.partsInFlight }, signal)
      : await openObjectStream(src, policies, signal);
    const { backend, body, verified, head } = s;
    const served = src.copies.find((c) => c.backendName === backend)?.location;
    // A located stream's read is not the failover's, which samples the reads it wins (a degraded
    // stream's included: its copy was found by one): sampled here, up to the answer, as its span.
    if (!src.degraded) this.#parts.recorder.observe(METRIC.operationDuration, { operation: 'GetObject', backend }, (performance.now() - start) / 1000);
    // Read when the body is whole: by then the outcome names the copy that served it.
    const keep = cache !== undefined && sha !== undefined && size !== undefined && src.whole && cache.fits(size)
      ? (bytes: Buffer): void => cache.set(key, { sha256: sha, body: bytes, head: cachedHeadOf(out), backend: out.backend })
      : undefined;
    // Spreads after the first property: a literal that begins with one takes V8's slow path.
    const out: StreamOutcome = {
      key, backend, degraded: src.degraded, failover: s.failover, ...rowFields(served), size: spanLength(src.span), ...head,
      body: keep === undefined ? body : keeping(body, verified, size as number, keep), verified, backends: s.backends, striped, range: src.span,
    };
    s.onServing = (c) => describeServing(out, c);
    if (src.cacheHit === true) LOCATION_CACHE_HITS.add(out);
    return out;
  }

  /** The copies a stream may read, and the span it reads: from the rows, or by broadcast while the store is down. */
  async #streamSource(key: string, range: string | undefined, signal: AbortSignal | undefined): Promise<StreamSource> {
    const backends = await this.#parts.streamBackends();
    let rows: ObjectLocation[];
    try {
      rows = await this.#parts.store.getAllObjectLocations(key, signal === undefined ? undefined : { signal });
    } catch (err) {
      if (signal?.aborted) throw abortedError(signal);
      if (hasCode(err, 'OBJECT_NOT_FOUND')) throw err;
      if (!hasCode(err, 'DB_UNAVAILABLE')) throw new ReadPathError('METADATA_ERROR', `metadata lookup failed for ${key}: ${messageOf(err)}`, { cause: err });
      // Degraded: the failover's HEAD (location cache, then broadcast) finds a holder and its size.
      const h = await this.#locate(key, signal, err);
      const span = resolveRange(range, h.size, key);
      const others = this.#parts.order.filter((name) => name !== h.backend);
      const stored = h.storedAs;
      if (stored?.compression !== undefined) {
        // Stored compressed: every copy is read as the layout the first was found in (replicas
        // hold the same stored bytes; a resume proves it with If-Match on their ETag).
        const row = degradedCompressedRow(key, h, stored, stored.compression);
        const copies: StreamCopy[] = [{ backendName: h.backend, backend: backends.get(h.backend), location: row }];
        for (const name of others) {
          copies.push({ backendName: name, backend: backends.get(name), location: { ...row, backendName: name, storageKey: null }, findStorageKey: true });
        }
        return { key, copies, span, whole: readsWhole(range, span), degraded: true, etag: stored.etag, cacheHit: h.cacheHit };
      }
      // The HEAD found where the copy is: its segment need not list the backend again.
      const copies: StreamCopy[] = [{ backendName: h.backend, backend: backends.get(h.backend), location: null, ...(stored === undefined ? {} : { storedAt: stored.storageKey }) }];
      const striping = this.#config.striping;
      if (striping.enabled && spanLength(span) >= striping.minSize) {
        // Striping uses the backends that hold it: ask the others, and keep those that answer alike.
        // Without an ETag nothing proves the others hold the same bytes: the first copy alone.
        const heads = h.etag === undefined ? [] : await Promise.all(others.map((name) => {
          const b = backends.get(name);
          if (b === undefined) return Promise.resolve(undefined);
          // Each backend's latest write of the key may be at a path of its own (stored-copy.ts).
          const at = this.#config.broadcast.storageKeys ? storedKeyOf(b, key, signal) : Promise.resolve(key);
          return at.then((k) => b.head(k, signal === undefined ? {} : { signal }).then((o) => ({ o, k }))).catch(() => undefined);
        }));
        others.forEach((name, i) => {
          const found = heads[i];
          // Where its HEAD found it: each part's request need not list the backend again.
          if (found !== undefined && found.o.size === h.size && found.o.etag === h.etag) copies.push({ backendName: name, backend: backends.get(name), location: null, storedAt: found.k });
        });
      } else {
        for (const name of others) copies.push({ backendName: name, backend: backends.get(name), location: null });
      }
      return { key, copies, span, whole: readsWhole(range, span), degraded: true, etag: h.etag, cacheHit: h.cacheHit };
    }
    const first = rows[0];
    if (first === undefined) throw new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key}`);
    const copies = rows.map((r): StreamCopy => ({ backendName: r.backendName, backend: backends.get(r.backendName), location: r }));
    const span = resolveRange(range, objectSizeOf(first), key);
    return { key, copies, span, whole: readsWhole(range, span), degraded: false };
  }

  /**
   * Degraded mode: the copy a stream starts from and the object's size, found as the failover
   * finds any copy (the location cache, then the broadcast) with a HEAD. It is the stream's read,
   * not a HEAD of the caller's: counted under GetObject, inside the stream's own span (no span of
   * its own), and shared only with other streams of the key.
   */
  #locate(key: string, signal: AbortSignal | undefined, lookupError: unknown): Promise<HeadOutcome & { cacheHit: boolean }> {
    // The store's failure is the stream's own lookup's: not asked again (see Failover.read).
    return this.#flights.run(`s\u0000${key}`, signal, (shared) => this.#failover.read<HeadResult>('GetObject', key, this.#executor.head(key), { signal: shared, lookupFailed: { error: lookupError } })
      .then((o) => ({ key, backend: o.backend, degraded: o.degraded, failover: o.failover, cacheHit: o.cacheHit, ...rowFields(o.location), ...o.value })), ownCopy);
  }

  /** HEAD an object. */
  head(key: string, opts: { signal?: AbortSignal | undefined } = {}): Promise<HeadOutcome> {
    return this.#head(key, opts.signal, undefined);
  }

  #head(key: string, signal: AbortSignal | undefined, batch: string | undefined): Promise<HeadOutcome> {
    return this.#guard(key, signal, () => this.#join(`h\u0000${key}`, signal, batch, async (shared) => {
      const fromMetadata = this.#config.head.fromMetadata;
      const ahead = this.#objects !== undefined || fromMetadata ? await this.#rowsAhead(key, shared) : NOT_LOOKED_UP;
      const rows = ahead.rows;
      // An object the cache holds for the row's hash is described by its entry: no backend HEAD.
      if (this.#objects !== undefined) {
        const { hit, size } = this.#cacheEntryFor(this.#objects, key, rows?.[0]);
        if (hit !== undefined && size !== undefined) {
          this.#answeredLocally('HeadObject', key, 'cache', size);
          return { key, backend: hit.backend, degraded: false, failover: false, ...rowFields(rows?.[0]), contentSha256: hit.sha256, size, ...definedHead(hit.head) };
        }
      }
      // A row that carries the object's ETag describes it whole (upstream answers so too).
      const first = rows?.[0];
      const described = fromMetadata && first !== undefined ? headFromRow(first) : undefined;
      if (described !== undefined && first !== undefined) {
        this.#parts.recorder.inc(METRIC.headsFromMetadata);
        this.#answeredLocally('HeadObject', key, 'metadata', described.size);
        return { key, backend: first.backendName, degraded: false, failover: false, fromMetadata: true, ...rowFields(first), ...described };
      }
      const o = await this.#read<HeadResult>('HeadObject', key, this.#executor.head(key), shared, ahead);
      return { key, backend: o.backend, degraded: o.degraded, failover: o.failover, ...rowFields(o.location), ...o.value };
    }));
  }

  /**
   * The object cache's entry for `key` if the row (looked up while the store's breaker is closed)
   * still gives its hash and size; with the row's hash and size either way, for a fill, and the
   * rows looked up, for the read a miss makes (the store is not asked again).
   */
  async #cachedEntry(cache: ObjectCache, key: string, signal: AbortSignal): Promise<CacheLookup & { ahead: RowsAhead }> {
    const ahead = await this.#rowsAhead(key, signal);
    return { ...this.#cacheEntryFor(cache, key, ahead.rows?.[0]), ahead };
  }

  /**
   * `key`'s rows, looked up before a read when the store's breaker is closed (not looked up
   * otherwise: the failover asks the breaker). No rows is `[]`: the failover reports
   * OBJECT_NOT_FOUND from those; a failed lookup is handed to the failover to report, or to read
   * around degraded, without asking the store again.
   */
  async #rowsAhead(key: string, signal: AbortSignal): Promise<RowsAhead> {
    if (this.#parts.breakerStates().store !== 'closed') return NOT_LOOKED_UP;
    return this.#parts.store.getAllObjectLocations(key, { signal }).then(
      (rows): RowsAhead => ({ rows }),
      (err: unknown): RowsAhead => (hasCode(err, 'OBJECT_NOT_FOUND') ? { rows: [] } : { failed: { error: err } }),
    );
  }

  /** The cache's entry for `key` if `row` gives its hash and size (counted as a hit or a miss); the row's hash and size either way. */
  #cacheEntryFor(cache: ObjectCache, key: string, row: ObjectLocation | undefined): CacheLookup {
    const sha = storedSha256(row);
    const size = row === undefined ? undefined : objectSizeOf(row);
    if (sha === undefined || size === undefined) return { hit: undefined, sha, size };
    const hit = cache.get(key, sha);
    if (hit !== undefined && hit.body.length === size) {
      this.#parts.recorder.inc(METRIC.objectCacheHits);
      return { hit, sha, size };
    }
    this.#parts.recorder.inc(METRIC.objectCacheMisses);
    return { hit: undefined, sha, size };
  }

  /**
   * Read many keys with bounded concurrency. Yields exactly one outcome per input key (not in
   * input order) and never throws for a per-key failure; pulls a key only when a slot frees.
   * Aborting the signal ends the iteration with ABORTED.
   */
  readMany(keys: Iterable<string> | AsyncIterable<string>, opts: ReadManyOptions = {}): AsyncIterable<BatchOutcome> {
    const op = opts.op ?? 'get';
    const concurrency = opts.concurrency ?? 64;
    const range = opts.range;
    if (op !== 'get' && op !== 'head') {
      return failingIterable(new ReadPathError('INVALID_CONFIG', `op: expected "get" or "head", got ${JSON.stringify(op)}`));
    }
    if (this.#closing !== undefined) return failingIterable(closedError());
    if (typeof keys === 'string') {
      // A string is iterable — by character: surely not what was meant.
      return failingIterable(new ReadPathError('INVALID_CONFIG', 'keys: an iterable of keys is expected, not one string (pass [key] for one key)'));
    }
    if (range !== undefined) {
      try {
        checkRangeSyntax(range);
      } catch (err) {
        return failingIterable(err);
      }
    }
    const transform = opts.transform;
    let root: string | undefined;
    if (opts.out !== undefined) {
      if (op !== 'get' || transform !== undefined || range !== undefined) {
        return failingIterable(new ReadPathError('INVALID_CONFIG', 'out: whole GETs only (not with op head, a transform or a range)'));
      }
      try {
        root = FileSink.open(opts.out).root;
      } catch (err) {
        return failingIterable(new ReadPathError('INVALID_CONFIG', `out: cannot use ${JSON.stringify(opts.out)} as the output directory: ${messageOf(err)}`, { cause: err }));
      }
    }
    // The batch's reads share flights among themselves only, under the batch's one signal.
    const scope = `b${++this.#batches}\u0001`;
    // Unique in the process (several ReadPaths share a thread's file sinks): what the writers
    // learned of the directory's tree is trusted within this batch only.
    const outScope = randomUUID();
    const readOne = op === 'head'
      ? (key: string, signal: AbortSignal): Promise<HeadOutcome> => this.#head(key, signal, scope)
      : root !== undefined
        ? (key: string, signal: AbortSignal): Promise<WrittenOutcome> => this.#getTo(key, root, outScope, signal, scope)
        : (key: string, signal: AbortSignal): Promise<GetOutcome | TransformedOutcome> => this.#get(key, { range, transform }, signal, scope);
    const batch = runBatch<{ key: string; ok: true } & (GetOutcome | HeadOutcome | TransformedOutcome | WrittenOutcome)>(keys, (key, signal) => readOne(key, signal).then(stripKey), {
      concurrency,
      // With the pool, a key is started only when a worker slot is free: backpressure
      // reaches the key source instead of queueing without limit.
      capacity: this.#executor,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.timeSliceMs === undefined ? {} : { timeSliceMs: opts.timeSliceMs }),
    });
    return batch as AsyncIterable<BatchOutcome>;
  }

  /**
   * Drain in-flight reads, then release workers, sockets and database handles. Idempotent.
   * Streams still being read are not waited for (their consumers set the pace): they end now with
   * the error any call after close() gets, SERVICE_UNAVAILABLE `readpath is closed`, not with
   * the failures of the copies closing under them.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#streams.cutAll(closedError());
      await this.#flights.settled();
      // After the reads that could still fill it: what the cache holds is released with the reader.
      this.#objects?.close();
      // One circuit_breaker.drain_timeout for the probes still running, not the executor's own
      // default: the executor's close takes what it needs of it (the pool's running probes, the
      // bodies being written under `out`), the wait before the last usage flush the rest.
      const drainMs = this.#config.circuitBreaker.drainTimeoutMs;
      const start = performance.now();
      await this.#executor.close({ timeoutMs: drainMs }).catch((err: unknown) => this.#logger.warn({ err: messageOf(err) }, 'executor close failed'));
      await this.#parts.close({ drainLeftMs: Math.max(0, drainMs - (performance.now() - start)) });
      this.#logger.debug('readpath closed');
      this.#logger.flush?.();
    })();
    return this.#closing;
  }

  #guard<T>(key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.#closing !== undefined) throw closedError();
      assertValidKey(key);
      if (signal?.aborted) throw abortedError(signal);
      return fn();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #read<T>(operation: string, key: string, probe: Probe<T>, signal: AbortSignal, ahead: RowsAhead = NOT_LOOKED_UP) {
    return this.#traced(operation, key, () => this.#failover.read(operation, key, probe, { signal, rows: ahead.rows, lookupFailed: ahead.failed }), (o) => o);
  }

  /**
   * Run one read in a span `Manager {operation}` when tracing is on (the read starts inside the
   * span's context: whatever it traces is the span's child), with upstream's attributes from what
   * `describe` says of its outcome; a failure is logged at debug either way.
   */
  #traced<O>(operation: string, key: string, run: () => Promise<O>, describe: (o: O) => { backend: string; failover: boolean; degraded: boolean; cacheHit: boolean; size: number }): Promise<O> {
    const tracing = activeTracing();
    if (tracing === undefined) {
      return run().catch((err: unknown) => {
        this.#readFailed(operation, key, serializeError(err));
        throw err;
      });
    }
    const cb = this.#config.circuitBreaker;
    return tracing.tracer.startActiveSpan(`Manager ${operation}`, { attributes: { 's3o.key': maskSpanText(key) } }, (span) =>
      run().then((o) => {
        const d = describe(o);
        span.setAttributes({
          's3o.backend.name': d.backend,
          's3o.failover': d.failover,
          's3o.degraded_mode': d.degraded,
          's3o.cache_hit': d.cacheHit,
          's3o.parallel_broadcast': d.degraded && cb.parallelBroadcast,
          's3o.object.size': d.size,
        });
        span.end();
        return o;
      }, (err: unknown) => {
        const e: SerializedError = serializeError(err);
        failSpan(tracing.api, span, e.code, e.message, this.#spanSecrets());
        span.end();
        this.#readFailed(operation, key, e);
        throw err;
      }));
  }

  /**
   * The span of a read answered without the failover (the object cache, or a HEAD from the row):
   * `s3o.backend.name` says where from, `cache` or `metadata`, as upstream's completion events do.
   */
  #answeredLocally(operation: string, key: string, from: 'cache' | 'metadata', size: number): void {
    const tracing = activeTracing();
    if (tracing === undefined) return;
    tracing.tracer.startSpan(`Manager ${operation}`, {
      attributes: {
        's3o.key': maskSpanText(key), 's3o.backend.name': from, 's3o.failover': false, 's3o.degraded_mode': false,
        's3o.cache_hit': false, 's3o.parallel_broadcast': false, 's3o.object.size': size,
      },
    }).end();
  }

  /** The configured secrets a failed read's span message is scrubbed of: listed at the first failure traced. */
  #spanSecrets(): readonly string[] {
    this.#secrets ??= configSecrets(this.#config);
    return this.#secrets;
  }

  #readFailed(operation: string, key: string, e: SerializedError): void {
    if (e.code !== 'ABORTED' && e.code !== 'OBJECT_NOT_FOUND') this.#logger.debug({ key, code: e.code, err: e.message }, `${operation} failed`);
  }
}

/** A lookup of a key's rows ahead of its read: the rows, or how it failed; neither when none was made. */
interface RowsAhead { rows?: ObjectLocation[] | undefined; failed?: { error: unknown } | undefined }
const NOT_LOOKED_UP: RowsAhead = Object.freeze({});

/** What the object cache gave for a key, and the row's hash and size it was looked up with. */
interface CacheLookup { hit: CachedObject | undefined; sha: string | undefined; size: number | undefined }
const NO_ENTRY: CacheLookup = Object.freeze({ hit: undefined, sha: undefined, size: undefined });

/** Stream outcomes the object cache answered, for their span's `s3o.backend.name`. */
const FROM_CACHE = new WeakSet<StreamOutcome>();
/** Degraded stream outcomes whose copy the location cache named, for their span's `s3o.cache_hit`. */
const LOCATION_CACHE_HITS = new WeakSet<StreamOutcome>();

/** A stream outcome answered from the object cache: a copy of the cached bytes in the span asked for. */
function fromCache(key: string, hit: CachedObject, src: StreamSource): StreamOutcome {
  const span = src.span;
  const n = spanLength(span);
  // A copy: the consumer may do what it likes with its bytes, the cache's stay as they were.
  const bytes = Buffer.from(hit.body.subarray(span.start, span.start + n));
  const o: StreamOutcome = {
    key, backend: hit.backend, degraded: false, failover: false, ...rowFields(src.copies[0]?.location), contentSha256: hit.sha256, size: n, ...definedHead(hit.head),
    body: Readable.from(n === 0 ? [] : [bytes], { objectMode: false }), verified: Promise.resolve(src.whole), backends: [hit.backend], striped: false, range: span,
  };
  FROM_CACHE.add(o);
  return o;
}

/**
 * `body`, passing through unchanged, with a copy of its bytes handed to `keep` once the whole of
 * it has passed and matched its hash (`verified`); a body cut short, destroyed or unverified
 * keeps nothing.
 */
function keeping(body: Readable, verified: Promise<boolean>, size: number, keep: (bytes: Buffer) => void): Readable {
  const copy = Buffer.allocUnsafe(size);
  let at = 0;
  async function* pass(): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      const c = chunk as Buffer;
      if (at + c.length <= size) c.copy(copy, at);
      at += c.length;
      yield c;
    }
    if (at === size && (await verified)) keep(copy);
  }
  return Readable.from(pass(), { objectMode: false, highWaterMark: 64 * 1024 });
}

/**
 * A stream's first copy to answer sent none of the bytes handed on (cut before its first byte, or
 * damaged and left): the outcome describes the copy that did instead — its name, failover, row
 * fields and head, the fields the other had and it has not removed.
 */
function describeServing(out: StreamOutcome, c: ServingCopy): void {
  out.backend = c.backend;
  out.failover = c.failover;
  delete out.contentSha256;
  delete out.tagCount;
  delete out.etag;
  delete out.contentType;
  delete out.lastModified;
  delete out.metadata;
  Object.assign(out, rowFields(c.location), c.head);
}

/** A cached entry's head fields, those it has (absent ones stay absent, as in a backend's answer). */
function definedHead(h: CachedHead): Omit<Partial<HeadResult>, 'size'> {
  const out: Omit<Partial<HeadResult>, 'size'> = {};
  if (h.etag !== undefined) out.etag = h.etag;
  if (h.contentType !== undefined) out.contentType = h.contentType;
  if (h.lastModified !== undefined) out.lastModified = h.lastModified;
  if (h.metadata !== undefined) out.metadata = h.metadata;
  return out;
}

/**
 * What the serving copy's row adds to an outcome: `contentSha256` when it has a well-formed
 * SHA-256, `tagCount` when the object has tags; absent fields stay absent.
 */
function rowFields(location: ObjectLocation | null | undefined): { contentSha256?: string; tagCount?: number } {
  const h = storedSha256(location);
  const out: { contentSha256?: string; tagCount?: number } = h === undefined ? {} : { contentSha256: h };
  if (location?.tagCount !== undefined) out.tagCount = location.tagCount;
  return out;
}

/**
 * The row a degraded copy found stored compressed would have had, as far as its HEAD shows: what
 * a stream needs to plan its reads (sizes, layout, where the bytes are) and to describe the
 * object (the ETag in multipart form, the backend's Last-Modified). No content hash.
 */
function degradedCompressedRow(key: string, h: HeadOutcome, stored: StoredAs, compression: string): ObjectLocation {
  return {
    objectKey: key, backendName: h.backend, sizeBytes: stored.storedSize, createdAt: h.lastModified ?? new Date(0), encrypted: false,
    contentHash: null, storageKey: stored.storageKey, compression, logicalSize: h.size, compressionVersion: null,
    etag: h.etag ?? null,
  };
}

function closedError(): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', 'readpath is closed');
}

function stripKey<T extends { key: string }>(o: T): Omit<T, 'key'> {
  const { key: _key, ...rest } = o;
  return rest;
}

function failingIterable(err: unknown): AsyncIterable<BatchOutcome> {
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }),
  };
}

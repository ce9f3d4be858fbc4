/**
 * `readpath serve [-c CONFIG] [--listen HOST:PORT] [--processes N]`: the read-only S3 gateway
 * (src/gateway/). Prints `readpath: serving S3 on http://HOST:PORT` on stderr once listening;
 * SIGTERM or SIGINT stops accepting, drains the requests in flight, closes, and exits 0. SIGHUP
 * reloads the configuration file, as s3-orchestrator does: credentials rotate and certificates
 * renew without a restart or a dropped connection. With `server.processes` (or `--processes`)
 * above 1 this process becomes the primary of that many gateway processes on one port
 * (src/gateway/cluster-primary.ts), each of them this same command serving the configuration
 * the primary hands it: only the primary reads the file, and only it answers SIGHUP.
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { UsageError, EXIT } from '../errors.js';
import { DEFAULT_CONFIG_PATH, openReader, type OpenReader } from '../reader.js';
import { loadConfig } from '../../config/load.js';
import { PROMETHEUS_CONTENT_TYPE, type Family } from '../../telemetry/metrics.js';
import { configSecrets } from '../../config/mask.js';
import type { ResolvedConfig } from '../../config/types.js';
import { messageOf } from '../../errors.js';
import type { Gateway } from '../../gateway/server.js';
import { parseListenAddr } from '../../config/listen-addr.js';
import type { CommandContext } from './context.js';
import { PROCESS_ENV, processPlace } from '../../gateway/cluster-protocol.js';
import type { PrimaryLink } from '../../gateway/cluster-link.js';
import type { ReloadReport } from '../../gateway/cluster-primary.js';
import { discardPrestartedPool } from '../../executors/pool/prestart.js';
import { startMetricsServer } from '../../telemetry/metrics-server.js';
import { processCount } from '../../config/runtime-defaults.js';
import type { Reporter } from '../reporter.js';
import { checkDatabase } from '../database-check.js';

/** Options of `serve`. */
export interface ServeCommandOptions {
  config?: string | undefined;
  listen?: string | undefined;
  metricsPort?: number | undefined;
  /** `--processes N` (0 = one per core); overrides `server.processes`. */
  processes?: number | undefined;
}

/** How long the primary waits for its processes to drain after SIGTERM, beyond their own shutdown timeout. */
const PROCESS_DRAIN_MS = 10_000;
/**
 * How long access-log lines (and other stderr lines) may wait to be written with the next ones.
 * One write per turn of the loop still cost a write per request or two under load (~15 µs of a
 * ~0.3 ms request at 4 KiB); 50 ms is unnoticeable in a log and makes it one write per few
 * hundred lines. Lines pending at exit are written then.
 */
const ACCESS_LOG_HOLD_MS = 50;

/** `--listen HOST:PORT` (`[v6]:PORT` for IPv6), parsed as `server.listen_addr` is. */
export function parseListen(s: string): { host: string; port: number } {
  const r = parseListenAddr(s);
  if (!r.ok) throw new UsageError(`--listen: ${r.message}`);
  return { host: r.host, port: r.port };
}

/** Run `serve` until the process is told to stop; resolves to the exit code. */
export async function runServe(ctx: CommandContext, opts: ServeCommandOptions): Promise<number> {
  // A gateway process leaves SIGHUP to its primary, which hands it the configuration to apply:
  // one sent to the whole process group (a terminal's hangup) reloads the gateway once.
  const hup = holdSighup(ctx.reporter, cluster.isWorker && processPlace(process.env[PROCESS_ENV]) !== undefined);
  try {
    return await serve(ctx, opts, hup);
  } finally {
    hup.release();
  }
}

/**
 * SIGHUP held for the whole of `serve`. Node's default for a SIGHUP nobody listens to is to end
 * the process at once, so one sent while the gateway starts or drains (a `systemctl reload`
 * racing a stop) killed it with its requests in flight, and a primary left its processes
 * without it. Held, a SIGHUP goes to the reload once there is one, is kept for it while
 * starting (the file may have changed after it was read), and is refused with a warning once
 * shutting down.
 */
interface SighupHold {
  /** From now on SIGHUP runs `reload`; runs it at once if one came while starting. */
  serving(reload: () => void): void;
  /** From now on SIGHUP only says that it is ignored. */
  stopping(): void;
  release(): void;
}

function holdSighup(r: Reporter, relayed: boolean): SighupHold {
  let phase: 'starting' | 'serving' | 'stopping' = 'starting';
  let reload: (() => void) | undefined;
  let pending = false;
  const onHup = (): void => {
    if (relayed) return;
    if (phase === 'serving') reload?.();
    else if (phase === 'starting') pending = true;
    else r.warn('SIGHUP: ignored, the gateway is shutting down');
  };
  process.on('SIGHUP', onHup);
  return {
    serving(f) {
      phase = 'serving';
      reload = f;
      if (pending) {
        pending = false;
        f();
      }
    },
    stopping() {
      phase = 'stopping';
      reload = undefined;
    },
    release() {
      process.off('SIGHUP', onHup);
    },
  };
}

async function serve(ctx: CommandContext, opts: ServeCommandOptions, hup: SighupHold): Promise<number> {
  const listen = opts.listen === undefined ? undefined : parseListen(opts.listen);
  if (cluster.isPrimary) {
    const primary = await primaryConfig(opts);
    if (primary !== undefined) return runPrimary(ctx, opts, primary.config, primary.count, hup);
  }
  // One of a primary's processes: its place, and the link that hands it the configuration and
  // shares limits and metrics.
  const place = cluster.isWorker ? processPlace(process.env[PROCESS_ENV]) : undefined;
  if (place !== undefined) {
    const { PrimaryLink: Link } = await import('../../gateway/cluster-link.js');
    let families = (): Family[] => [];
    const link = new Link(() => families());
    try {
      const answer = await Promise.race([link.config(), stopSignal(ctx.signal)]);
      // Stopped while starting (the primary's SIGTERM): nothing opened yet, nothing to drain.
      if (answer === undefined) return EXIT.INTERRUPTED;
      ctx.reporter.scrubber.add(configSecrets(answer.initial));
      if (answer.latest !== undefined) ctx.reporter.scrubber.add(configSecrets(answer.latest));
      const reader = await openReader(ctx.reporter, { config: opts.config, resolved: answer.initial });
      families = () => reader.rp.metricFamilies();
      return await serveWith(ctx, opts, hup, listen, reader, { link, place, latest: answer.latest });
    } finally {
      link.close();
      // The channel to the primary would keep this process alive: leave it (as planned, so no
      // forced exit). Only ours: a serve some other cluster forked keeps its channel.
      cluster.worker?.disconnect();
    }
  }
  const reader = await openReader(ctx.reporter, { config: opts.config, metricsPort: opts.metricsPort });
  return serveWith(ctx, opts, hup, listen, reader, undefined);
}

/** A gateway process's link to its primary, its place, and the configuration reloaded before it started. */
interface Relayed {
  link: PrimaryLink;
  place: { index: number; count: number };
  latest: ResolvedConfig | undefined;
}

/** Serve `reader` until told to stop, then drain; `relayed` for one of a primary's processes. */
async function serveWith(ctx: CommandContext, opts: ServeCommandOptions, hup: SighupHold, listen: { host: string; port: number } | undefined, reader: OpenReader, relayed: Relayed | undefined): Promise<number> {
  const link = relayed?.link;
  let uncoalesce: (() => void) | undefined;
  let dbCheck: Promise<void> | undefined;
  try {
    const settings = reader.rp.config.gateway;
    requireBuckets(settings);
    const { startGateway } = await import('../../gateway/server.js');
    const logger = ctx.reporter.readerLogger(reader.rp.config.logging.level);
    const shared = link === undefined ? {} : { process: relayed?.place, sharedRateLimit: link.allow.bind(link), metrics: link.metrics.bind(link) };
    const gw = await startGateway(reader.rp, { settings, logger, ...(listen ?? {}), ...shared }).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new UsageError(`serve: cannot listen on ${listen === undefined ? settings.listenAddr : opts.listen ?? ''} (${code})`, { cause: err });
    });
    const reloader = new Reloader(ctx, opts.config ?? DEFAULT_CONFIG_PATH, reader.rp.config, gw, [logger, reader.logger]);
    if (relayed?.latest !== undefined) {
      // Reloaded since the gateway started: applied before this turn ends, so no request is
      // served with the settings the others no longer have, and as they applied it (the
      // sections only a restart applies stay as theirs are).
      try {
        reloader.apply(relayed.latest);
      } catch (err) {
        ctx.reporter.warn(`gateway process ${relayed.place.index} could not apply the configuration last reloaded, serving the one the gateway started with: ${messageOf(err)}`);
      }
    }
    // The primary says it once, when every process listens, and looks at the database itself.
    if (link === undefined) {
      ctx.io.stderr.write(`readpath: serving S3 on ${gw.url}\n`);
      dbCheck = lookAtDatabase(ctx.reporter, logger, reader.rp.config.database);
    } else link.listening(gw.url);
    // An access-log line per request: the lines of ACCESS_LOG_HOLD_MS go out as one write.
    uncoalesce = ctx.reporter.coalesce({ holdMs: ACCESS_LOG_HOLD_MS });
    hup.serving(() => reloader.request());
    // The primary has loaded it and reports for the whole gateway: this process applies and answers.
    link?.onReload((next) => {
      ctx.reporter.scrubber.add(configSecrets(next));
      return { restartNeeded: reloader.apply(next) };
    });
    try {
      await Promise.race([stopSignal(ctx.signal), ...(link === undefined ? [] : [link.stopped])]);
    } finally {
      hup.stopping();
    }
    // Leaving: readiness fails at once, so a load balancer stops sending new requests during the delay.
    gw.notReady();
    await reloader.idle();
    // server.shutdown_delay (as last reloaded): keep serving while a load balancer notices the instance is leaving.
    const shutdownDelayMs = reloader.current.gateway.shutdownDelayMs;
    if (shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, shutdownDelayMs));
    const cut = await gw.close(reloader.current.gateway.shutdownTimeoutMs);
    if (cut > 0) ctx.reporter.warn(`${cut} request(s) still in flight after server.shutdown_timeout (${reloader.current.gateway.shutdownTimeoutMs} ms) were cut`);
    return EXIT.OK;
  } finally {
    // It never rejects; waited for so that its connection does not outlive the command.
    await dbCheck;
    uncoalesce?.();
    await reader.close();
  }
}

/**
 * The database looked at once (database-check.ts), in the background of a gateway that already
 * listens: readpath connects on first use, so that a database down at start does not stop it, and
 * a session the server refuses (a wrong password, a missing database or role, TLS it cannot
 * give) would otherwise show only as degraded reads. That gets one warning naming the setting to
 * check; a server that is merely down is the degraded mode the gateway is built for, logged at
 * info only. SQLite needs no look: the file was opened at start, which fails when it cannot be.
 */
function lookAtDatabase(r: Reporter, logger: Logger, db: ResolvedConfig['database']): Promise<void> {
  if (db.driver !== 'postgres') return Promise.resolve();
  return checkDatabase(db).then(
    (check) => {
      if (check.ok) logger.info({ target: check.target }, `database check: ${check.target} answered`);
      else if (check.fault === 'settings') r.warn(`${messageOf(check.error)}: reads go degraded (every backend asked) until it is fixed`, { target: check.target });
      else logger.info({ target: check.target }, `database check: ${messageOf(check.error)}`);
    },
    (err: unknown) => logger.info(`database check failed: ${messageOf(err)}`),
  );
}

/** A gateway serves buckets: without any, `serve` is a usage error. */
function requireBuckets(g: ResolvedConfig['gateway']): void {
  if (g.buckets.length === 0) {
    throw new UsageError('serve: the configuration has no buckets: add buckets[] with credentials (see README, "The S3 gateway")');
  }
}

/**
 * The configuration file read again on SIGHUP: it must load and name buckets, and its secrets
 * are masked in whatever is printed from now on. Throws, changing nothing, otherwise.
 */
async function reloadedConfig(path: string, r: Reporter): Promise<ResolvedConfig> {
  const next = await loadConfig(path);
  if (next.gateway.buckets.length === 0) throw new Error('the configuration has no buckets');
  r.scrubber.add(configSecrets(next));
  return next;
}

/** SIGHUP's warning for a configuration that could not be applied: the previous one stays. */
function reloadFailed(r: Reporter, path: string, err: unknown): void {
  r.warn(`SIGHUP: configuration reload failed, still serving the previous one: ${messageOf(err)}`, { path });
}

function stopSignal(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * The configuration and process count when this process is to be a primary (more than one
 * process asked for); undefined to serve in this process. A file that does not load is left
 * to the one-process path, which reports it as every command does.
 */
async function primaryConfig(opts: ServeCommandOptions): Promise<{ config: ResolvedConfig; count: number } | undefined> {
  if (opts.processes === 1) return undefined;
  let config: ResolvedConfig;
  try {
    config = await loadConfig(opts.config ?? DEFAULT_CONFIG_PATH);
  } catch {
    return undefined;
  }
  const count = opts.processes === undefined ? config.gateway.processes : processCount(opts.processes);
  return count > 1 ? { config, count } : undefined;
}

/** The primary of `count` gateway processes: starts them, relays SIGHUP, drains them on SIGTERM. */
async function runPrimary(ctx: CommandContext, opts: ServeCommandOptions, config: ResolvedConfig, count: number, hup: SighupHold): Promise<number> {
  // Probe workers started ahead (main.ts) serve no one here: each gateway process has its own.
  await discardPrestartedPool();
  const r = ctx.reporter;
  r.scrubber.add(configSecrets(config));
  requireBuckets(config.gateway);
  const { GatewayPrimary, GatewayStartError } = await import('../../gateway/cluster-primary.js');
  const primary = new GatewayPrimary({ count, config, warn: (msg, fields) => r.warn(msg, fields) });
  let url: string;
  try {
    // SIGTERM while the processes are first starting stops them at once (the ones listening
    // drain, the others are signalled), rather than after every one listens: one slow to start
    // would hold the stop for as long as it takes.
    const started = await Promise.race([primary.start(), stopSignal(ctx.signal).then(() => undefined)]);
    if (started === undefined) {
      hup.stopping();
      return await primary.stop(config.gateway.shutdownDelayMs + config.gateway.shutdownTimeoutMs + PROCESS_DRAIN_MS);
    }
    url = started;
  } catch (err) {
    // The process that failed has said why on stderr.
    if (err instanceof GatewayStartError) {
      r.warn(`serve: ${err.message}`, { exitCode: err.exitCode });
      return err.exitCode;
    }
    throw err;
  }
  const metrics = opts.metricsPort === undefined ? undefined : await startMetricsServer({ port: opts.metricsPort, render: () => primary.metrics(), contentType: PROMETHEUS_CONTENT_TYPE }).catch((err: unknown) => {
    void primary.stop(PROCESS_DRAIN_MS);
    throw new UsageError(`--metrics-port ${opts.metricsPort ?? ''}: cannot listen on 127.0.0.1 (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  });
  if (metrics !== undefined) r.info('metrics endpoint listening', { url: metrics.url }, `metrics on ${metrics.url}`);
  ctx.io.stderr.write(`readpath: serving S3 on ${url}\n`);
  const dbCheck = lookAtDatabase(r, r.readerLogger(config.logging.level), config.database);
  r.info('gateway processes started', { processes: count, pids: primary.pids() }, `${count} gateway processes (pids ${primary.pids().join(', ')})`);
  let current = config;
  const path = opts.config ?? DEFAULT_CONFIG_PATH;
  let reloading = Promise.resolve();
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      let next: ResolvedConfig;
      try {
        next = await reloadedConfig(path, r);
      } catch (err) {
        // Nothing is sent on: every process keeps serving what it has.
        reloadFailed(r, path, err);
        return;
      }
      current = next;
      reportReload(r, next, await primary.reload(next));
    });
  };
  hup.serving(onHup);
  let gaveUp = false;
  try {
    await Promise.race([stopSignal(ctx.signal), primary.gaveUp.then(() => {
      gaveUp = true;
    })]);
  } finally {
    hup.stopping();
  }
  await reloading;
  const code = await primary.stop(current.gateway.shutdownDelayMs + current.gateway.shutdownTimeoutMs + PROCESS_DRAIN_MS);
  await metrics?.close();
  await dbCheck;
  return gaveUp ? EXIT.FAILED : code;
}

/** Sections of the configuration only a restart applies (the reader is built from them once), and their keys in the file. */
const RESTART_SECTIONS: ReadonlyMap<keyof ResolvedConfig, string> = new Map<keyof ResolvedConfig, string>([
  ['backends', 'backends'], ['database', 'database'], ['circuitBreaker', 'circuit_breaker'], ['backendCircuitBreaker', 'backend_circuit_breaker'],
  ['server', 'server.backend_timeout'], ['integrity', 'integrity'], ['runtime', 'runtime'], ['striping', 'striping'], ['hedging', 'hedging'],
  ['broadcast', 'broadcast'], ['usage', 'usage'], ['encryption', 'encryption'], ['cache', 'cache'],
]);

/**
 * SIGHUP: read the configuration file again and apply what can change while serving — the
 * gateway's buckets, credentials, TLS certificate and limits (Gateway.reload) and the log level.
 * A file that does not load changes nothing. One reload at a time; a SIGHUP during one runs
 * another after it, so the last signal always sees the last file.
 */
class Reloader {
  current: ResolvedConfig;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly ctx: CommandContext,
    private readonly path: string,
    initial: ResolvedConfig,
    private readonly gw: Gateway,
    private readonly loggers: readonly Logger[],
  ) {
    this.current = initial;
  }

  request(): void {
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#reload();
      } while (this.#again);
      this.#running = undefined;
    })();
  }

  /** Resolves once no reload is running. */
  async idle(): Promise<void> {
    await this.#running;
  }

  /**
   * Apply a configuration already loaded (read here, or handed on by the primary); returns the
   * settings that changed but apply only after a restart. Throws, changing nothing, when the
   * gateway cannot take it.
   */
  apply(next: ResolvedConfig): string[] {
    // Throws, changing nothing, when the new certificate and key do not go together.
    const kept = this.gw.reload(next.gateway);
    for (const l of this.loggers) this.ctx.reporter.applyConfiguredLevel(l, next.logging.level);
    const cur = this.current;
    const applied: Record<string, unknown> = { ...next };
    for (const [k, name] of RESTART_SECTIONS) {
      if (JSON.stringify(cur[k]) !== JSON.stringify(next[k])) kept.push(name);
      // Only what was applied becomes current: a section a restart would change stays as it is.
      applied[k] = cur[k];
    }
    this.current = applied as unknown as ResolvedConfig;
    return kept;
  }

  async #reload(): Promise<void> {
    const r = this.ctx.reporter;
    let next: ResolvedConfig;
    let kept: string[];
    try {
      next = await reloadedConfig(this.path, r);
      kept = this.apply(next);
    } catch (err) {
      reloadFailed(r, this.path, err);
      return;
    }
    reloaded(r, next, kept);
  }
}

/** SIGHUP's report of a configuration applied. */
function reloaded(r: Reporter, next: ResolvedConfig, restartNeeded: readonly string[]): void {
  const creds = next.gateway.buckets.reduce((n, b) => n + b.credentials.length, 0);
  r.info('configuration reloaded', { buckets: next.gateway.buckets.length, credentials: creds }, `configuration reloaded: ${next.gateway.buckets.length} buckets, ${creds} credentials`);
  if (restartNeeded.length > 0) r.warn(`SIGHUP: changed but applied only after a restart: ${restartNeeded.join(', ')}`, { restartNeeded });
}

/**
 * The primary's one report of a reload for the whole gateway: as a one-process gateway's when
 * every process applied it; otherwise a warning naming those that serve the previous one.
 */
function reportReload(r: Reporter, next: ResolvedConfig, report: ReloadReport): void {
  if (report.failed.length === 0) {
    reloaded(r, next, report.restartNeeded);
    return;
  }
  const total = report.applied + report.failed.length;
  const which = report.failed.map((f) => `process ${f.process} (pid ${f.pid ?? '?'}): ${f.error}`).join('; ');
  r.warn(`SIGHUP: configuration reloaded by ${report.applied} of ${total} gateway processes; still serving the previous one: ${which}`, { applied: report.applied, failed: report.failed });
  if (report.restartNeeded.length > 0) r.warn(`SIGHUP: changed but applied only after a restart: ${report.restartNeeded.join(', ')}`, { restartNeeded: report.restartNeeded });
}

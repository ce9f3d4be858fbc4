/**
 * `readpath serve [-c CONFIG] [--listen HOST:PORT]`: the read-only S3 gateway (src/gateway/).
 * Prints `readpath: serving S3 on http://HOST:PORT` on stderr once listening; SIGTERM or SIGINT
 * stops accepting, drains the requests in flight, closes, and exits 0. SIGHUP reloads the
 * configuration file, as s3-orchestrator does: credentials rotate and certificates renew without
 * a restart or a dropped connection.
 */
import type { Logger } from 'pino';
import { UsageError, EXIT } from '../errors.js';
import { DEFAULT_CONFIG_PATH, openReader } from '../reader.js';
import { loadConfig } from '../../config/load.js';
import { configSecrets } from '../../config/mask.js';
import type { ResolvedConfig } from '../../config/types.js';
import { messageOf } from '../../errors.js';
import type { Gateway } from '../../gateway/server.js';
import { parseListenAddr } from '../../config/listen-addr.js';
import type { CommandContext } from './context.js';

/** Options of `serve`. */
export interface ServeCommandOptions {
  config?: string | undefined;
  listen?: string | undefined;
  metricsPort?: number | undefined;
}

/** `--listen HOST:PORT` (`[v6]:PORT` for IPv6), parsed as `server.listen_addr` is. */
export function parseListen(s: string): { host: string; port: number } {
  const r = parseListenAddr(s);
  if (!r.ok) throw new UsageError(`--listen: ${r.message}`);
  return { host: r.host, port: r.port };
}

/** Run `serve` until the process is told to stop; resolves to the exit code. */
export async function runServe(ctx: CommandContext, opts: ServeCommandOptions): Promise<number> {
  const listen = opts.listen === undefined ? undefined : parseListen(opts.listen);
  const reader = await openReader(ctx.reporter, { config: opts.config, metricsPort: opts.metricsPort });
  try {
    const settings = reader.rp.config.gateway;
    if (settings.buckets.length === 0) {
      throw new UsageError('serve: the configuration has no buckets: add buckets[] with credentials (see README, "The S3 gateway")');
    }
    const { startGateway } = await import('../../gateway/server.js');
    const logger = ctx.reporter.readerLogger(reader.rp.config.logging.level);
    const gw = await startGateway(reader.rp, { settings, logger, ...(listen ?? {}) }).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new UsageError(`serve: cannot listen on ${listen === undefined ? settings.listenAddr : opts.listen ?? ''} (${code})`, { cause: err });
    });
    ctx.io.stderr.write(`readpath: serving S3 on ${gw.url}\n`);
    const reloader = new Reloader(ctx, opts.config ?? DEFAULT_CONFIG_PATH, reader.rp.config, gw, [logger, reader.logger]);
    const onHup = (): void => reloader.request();
    process.on('SIGHUP', onHup);
    try {
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      process.off('SIGHUP', onHup);
    }
    // Leaving: readiness fails at once, so a load balancer stops sending new requests during the delay.
    gw.notReady();
    await reloader.idle();
    // server.shutdown_delay (as last reloaded): keep serving while a load balancer notices the instance is leaving.
    const shutdownDelayMs = reloader.current.gateway.shutdownDelayMs;
    if (shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, shutdownDelayMs));
    await gw.close();
    return EXIT.OK;
  } finally {
    await reader.close();
  }
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

  async #reload(): Promise<void> {
    const r = this.ctx.reporter;
    let next: ResolvedConfig;
    let kept: string[];
    try {
      next = await loadConfig(this.path);
      if (next.gateway.buckets.length === 0) throw new Error('the configuration has no buckets');
      r.scrubber.add(configSecrets(next));
      // Throws, changing nothing, when the new certificate and key do not go together.
      kept = this.gw.reload(next.gateway);
    } catch (err) {
      r.warn(`SIGHUP: configuration reload failed, still serving the previous one: ${messageOf(err)}`, { path: this.path });
      return;
    }
    for (const l of this.loggers) r.applyConfiguredLevel(l, next.logging.level);
    const cur = this.current;
    const applied: Record<string, unknown> = { ...next };
    for (const [k, name] of RESTART_SECTIONS) {
      if (JSON.stringify(cur[k]) !== JSON.stringify(next[k])) kept.push(name);
      // Only what was applied becomes current: a section a restart would change stays as it is.
      applied[k] = cur[k];
    }
    this.current = applied as unknown as ResolvedConfig;
    const creds = next.gateway.buckets.reduce((n, b) => n + b.credentials.length, 0);
    r.info('configuration reloaded', { buckets: next.gateway.buckets.length, credentials: creds }, `configuration reloaded: ${next.gateway.buckets.length} buckets, ${creds} credentials`);
    if (kept.length > 0) r.warn(`SIGHUP: changed but applied only after a restart: ${kept.join(', ')}`, { restartNeeded: kept });
  }
}

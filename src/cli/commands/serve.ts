/**
 * `readpath serve [-c CONFIG] [--listen HOST:PORT]`: the read-only S3 gateway (src/gateway/).
 * Prints `readpath: serving S3 on http://HOST:PORT` on stderr once listening; SIGTERM or SIGINT
 * stops accepting, drains the requests in flight, closes, and exits 0.
 */
import { UsageError, EXIT } from '../errors.js';
import { openReader } from '../reader.js';
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
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    // server.shutdown_delay: keep serving while a load balancer notices the instance is leaving.
    if (settings.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, settings.shutdownDelayMs));
    await gw.close();
    return EXIT.OK;
  } finally {
    await reader.close();
  }
}

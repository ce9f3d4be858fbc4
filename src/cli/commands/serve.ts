/**
 * `readpath serve [-c CONFIG] [--listen HOST:PORT] [--processes N]`: the read-only S3 gateway
 * (src/gateway/). Prints `readpath: serving S3 on http://HOST:PORT` on stderr once listening;
 * SIGTERM or SIGINT stops accepting, drains the requests in flight, closes, and exits 0. SIGHUP
 * reloads the configuration file, as s3-orchestrator does: credentials rotate and certificates
 * renew without a restart or a dropped connection. With `server.processes` (or `--processes`)
 * above 1 this process becomes the primary of that many gateway processes on one port
 * (src/gateway/cluster-primary.ts), each of them this same command serving the configuration
 * the primary hands it: only the primary reads the file, and only it answers SIGHUP.
 *
 * This module serves one process; src/cli/serve/ holds the rest: the primary (primary.ts), the
 * reload (reloader.ts, reload-report.ts), the signals (signals.ts), and the database look once
 * listening (database-look.ts).
 */
import cluster from 'node:cluster';
import { UsageError, EXIT } from '../errors.js';
import { DEFAULT_CONFIG_PATH, openReader, type OpenReader } from '../reader.js';
import type { Family } from '../../telemetry/metrics.js';
import { configSecrets } from '../../config/mask.js';
import type { ResolvedConfig } from '../../config/types.js';
import { messageOf } from '../../errors.js';
import { parseListenAddr } from '../../config/listen-addr.js';
import type { CommandContext } from './context.js';
import { PROCESS_ENV, processPlace } from '../../gateway/cluster-protocol.js';
import type { PrimaryLink } from '../../gateway/cluster-link.js';
import { holdSighup, stopSignal, type SighupHold } from '../serve/signals.js';
import { lookAtDatabase } from '../serve/database-look.js';
import { requireBuckets } from '../serve/gateway-config.js';
import { Reloader } from '../serve/reloader.js';
import { primaryConfig, runPrimary } from '../serve/primary.js';

/** Options of `serve`. */
export interface ServeCommandOptions {
  config?: string | undefined;
  listen?: string | undefined;
  metricsPort?: number | undefined;
  /** `--processes N` (0 = one per core); overrides `server.processes`. */
  processes?: number | undefined;
}

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

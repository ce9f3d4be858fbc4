/**
 * `readpath serve` as the primary of several gateway processes (src/gateway/cluster-primary.ts):
 * it reads the configuration, starts the processes, says once that the gateway serves, looks at
 * the database once, relays SIGHUP with one report, and drains every process on SIGTERM.
 */
import { EXIT, UsageError } from '../errors.js';
import { DEFAULT_CONFIG_PATH } from '../reader.js';
import { loadConfig } from '../../config/load.js';
import { configSecrets } from '../../config/mask.js';
import type { ResolvedConfig } from '../../config/types.js';
import { processCount } from '../../config/runtime-defaults.js';
import { discardPrestartedPool } from '../../executors/pool/prestart.js';
import { startMetricsServer } from '../../telemetry/metrics-server.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/metrics.js';
import type { CommandContext } from '../commands/context.js';
import type { ServeCommandOptions } from '../commands/serve.js';
import { lookAtDatabase } from './database-look.js';
import { reloadedConfig, requireBuckets } from './gateway-config.js';
import { reloadFailed, reportReload } from './reload-report.js';
import { stopSignal, type SighupHold } from './signals.js';

/** How long the primary waits for its processes to drain after SIGTERM, beyond their own shutdown timeout. */
const PROCESS_DRAIN_MS = 10_000;

/**
 * The configuration and process count when this process is to be a primary (more than one
 * process asked for); undefined to serve in this process. A file that does not load is left
 * to the one-process path, which reports it as every command does.
 */
export async function primaryConfig(opts: ServeCommandOptions): Promise<{ config: ResolvedConfig; count: number } | undefined> {
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
export async function runPrimary(ctx: CommandContext, opts: ServeCommandOptions, config: ResolvedConfig, count: number, hup: SighupHold): Promise<number> {
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

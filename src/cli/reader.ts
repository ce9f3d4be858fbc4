/**
 * Opening a ReadPath for a command: the configuration file, the reader's logger (through the
 * reporter, so secrets are scrubbed and the format follows --json), and the optional
 * Prometheus endpoint. {@link OpenReader.close} releases all of it.
 */
import { configSecrets } from '../config/mask.js';
import { InvalidConfigError } from '../config/issues.js';
import { openResolved, ReadPath } from '../read-path.js';
import type { ResolvedConfig } from '../config/types.js';
import { discardPrestartedPool } from '../executors/pool/prestart.js';
import { startMetricsServer, type MetricsServer } from '../telemetry/metrics-server.js';
import { DEFAULT_CONFIG_PATH } from './config-path.js';
import { UsageError } from './errors.js';
import type { Reporter } from './reporter.js';
import type { Logger } from 'pino';

export { DEFAULT_CONFIG_PATH };

/** An open reader and what came with it. */
export interface OpenReader {
  rp: ReadPath;
  /** The reader's logger (its level follows the configuration unless READPATH_LOG_LEVEL is set). */
  logger: Logger;
  metrics: MetricsServer | undefined;
  /** Close the metrics endpoint, then the reader. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link openReader}. */
export interface OpenReaderOptions {
  /** `-c CONFIG`; undefined means {@link DEFAULT_CONFIG_PATH}. */
  config: string | undefined;
  /**
   * The configuration already loaded, instead of reading `config` (a gateway process: its
   * primary's). `config` then only names the file in messages.
   */
  resolved?: ResolvedConfig | undefined;
  /** `--metrics-port N`. */
  metricsPort?: number | undefined;
  /** Run probes on the main thread whatever the configuration says (commands that make one read). */
  inline?: boolean;
  /** Worker threads when the configuration does not set `runtime.threads`. */
  defaultThreads?: number;
  /** Worker threads whatever the configuration says (`--threads N`). */
  threads?: number | undefined;
}

/** Open the reader a command works with. Configuration errors are INVALID_CONFIG (exit 2). */
export async function openReader(reporter: Reporter, opts: OpenReaderOptions): Promise<OpenReader> {
  const path = opts.config ?? DEFAULT_CONFIG_PATH;
  const logger = reporter.readerLogger();
  let rp: ReadPath;
  try {
    const openOpts = {
      logger,
      ...(opts.inline === true ? { mode: 'inline' as const } : {}),
      ...(opts.defaultThreads === undefined ? {} : { defaultThreads: opts.defaultThreads }),
      ...(opts.threads === undefined ? {} : { threads: opts.threads }),
    };
    rp = await (opts.resolved === undefined ? ReadPath.open(path, openOpts) : openResolved(opts.resolved, openOpts));
    // Workers started ahead (main.ts) that the configuration did not want: don't keep them.
    await discardPrestartedPool();
  } catch (err) {
    await discardPrestartedPool();
    if (opts.config === undefined && err instanceof InvalidConfigError && err.issues.some((i) => i.message.includes('file not found'))) {
      throw new InvalidConfigError(err.issues, { file: `${path} (the default; pass -c CONFIG to use another file)` });
    }
    throw err;
  }
  reporter.scrubber.add(configSecrets(rp.config));
  reporter.applyConfiguredLevel(logger, rp.config.logging.level);
  if (opts.threads !== undefined && rp.config.runtime.mode === 'inline') {
    reporter.warn(`--threads ${opts.threads} has no effect: runtime.mode is inline (probes run on the main thread); set runtime.mode: pool to use worker threads`, { threads: opts.threads, mode: 'inline' });
  }
  let metrics: MetricsServer | undefined;
  if (opts.metricsPort !== undefined) {
    try {
      metrics = await startMetricsServer({ port: opts.metricsPort, render: () => rp.metrics(), contentType: rp.metricsContentType });
    } catch (err) {
      await rp.close();
      throw new UsageError(`--metrics-port ${opts.metricsPort}: cannot listen on 127.0.0.1 (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
    }
    reporter.info('metrics endpoint listening', { url: metrics.url }, `metrics on ${metrics.url}`);
  }
  let closing: Promise<void> | undefined;
  return {
    rp,
    logger,
    metrics,
    close() {
      closing ??= (async () => {
        await metrics?.close();
        await rp.close();
      })();
      return closing;
    },
  };
}

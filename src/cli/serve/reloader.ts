/**
 * A one-process gateway's SIGHUP (and a primary's process's reload handed on): the configuration
 * applied while serving, one reload at a time.
 */
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/types.js';
import type { Gateway } from '../../gateway/server.js';
import type { CommandContext } from '../commands/context.js';
import { reloadedConfig } from './gateway-config.js';
import { reloadFailed, reloaded } from './reload-report.js';

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
export class Reloader {
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

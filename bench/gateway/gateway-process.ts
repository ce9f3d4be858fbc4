/**
 * `readpath serve` as its own process, as a user runs it: `node [NODE_ARGS] --import
 * loop-monitor.js <cli>/main.js serve -c CONFIG --listen 127.0.0.1:0` (the CLI next to this
 * bench: dist when built, src under tsx), in the peers' tool environment. Waits for its
 * `readpath: serving S3 on URL` line; measurement windows go over IPC to the preloaded
 * loop-monitor; close() sends SIGTERM (serve drains and exits 0) and waits for the exit.
 * Its stderr (the access log at the default `info` level) is drained, the tail kept for errors.
 */
import { killAtExit } from '../process-guard.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loaderExecArgv, waitForStart } from '../../src/cli/child-start.js';
import { readpathMain, toolEnv } from '../peers/tools.js';
import type { LoopReply, LoopRequest, LoopWindow } from './loop-monitor.js';
import { siblingModule } from '../../src/sibling-module.js';

/** Options of {@link startGatewayProcess}. */
export interface GatewayProcessOptions {
  config: string;
  /** Extra node flags (e.g. `--cpu-prof --cpu-prof-dir DIR`). */
  nodeArgs?: readonly string[];
  /** Extra environment (e.g. `READPATH_LOG_LEVEL`). */
  env?: Record<string, string>;
  /** Another build's CLI entry (`dist/src/cli/main.js`); default this bench's. */
  main?: string;
}

/** A running gateway process. */
export interface GatewayProcess {
  readonly url: string;
  readonly pid: number | undefined;
  /** Start a measurement window; `end()` resolves with the window's figures. */
  window(): Promise<{ end(): Promise<LoopWindow> }>;
  /** The last ~20 KB of its stderr. */
  stderrTail(): string;
  /** SIGTERM, wait for the exit (SIGKILL after `graceMs`); resolves with the exit code. */
  close(graceMs?: number): Promise<number | null>;
}

const START_TIMEOUT_MS = 60_000;
const SERVING = /readpath: serving S3 on (\S+)/;

/** A script next to this file: its source under tsx, its build in dist/. */
function sibling(name: string): string {
  return fileURLToPath(siblingModule(import.meta.url, `./${name}`));
}

/** The loop monitor next to this file (source under tsx, dist when built). */
export function loopMonitorEntry(): string {
  return sibling('loop-monitor');
}

/** The floor proxy next to this file (`--floor-variant`, see floor-proxy.ts): a stand-in `main`. */
export function floorProxyEntry(): string {
  return sibling('floor-proxy');
}

/** Start `readpath serve`; resolves once it prints its URL. */
export async function startGatewayProcess(opts: GatewayProcessOptions): Promise<GatewayProcess> {
  const main = opts.main ?? readpathMain();
  const monitor = loopMonitorEntry();
  const argv = [
    ...(opts.nodeArgs ?? []),
    // Under tsx (tests) the monitor, and maybe the CLI, are TypeScript.
    ...(main.endsWith('.ts') || monitor.endsWith('.ts') ? loaderExecArgv() : []),
    '--import', monitor,
    main, 'serve', '-c', opts.config, '--listen', '127.0.0.1:0',
  ];
  const child: ChildProcess = spawn(process.execPath, argv, { env: toolEnv(opts.env ?? {}), stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  // serve does not stop when its IPC channel closes: a bench stopped part-way must stop it.
  killAtExit(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => { stderr = (stderr + s).slice(-20_000); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const started = await waitForStart(child, { what: 'readpath serve', match: SERVING, stream: 'stderr', timeoutMs: START_TIMEOUT_MS, stderrTailChars: 20_000 });
  const url = started[1] as string;

  /** Send `m` to the loop monitor; resolves with its reply of type `want`. */
  const request = (want: LoopReply['type'], m: LoopRequest): Promise<LoopReply> => new Promise((resolve, reject) => {
    const onMessage = (r: unknown): void => {
      if ((r as { type?: string }).type !== want) return;
      cleanup();
      resolve(r as LoopReply);
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(`readpath serve exited during a measurement:\n${stderr.slice(-2000)}`));
    };
    function cleanup(): void {
      child.off('message', onMessage);
      child.off('exit', onExit);
    }
    if (!child.connected) return reject(new Error('readpath serve has no IPC channel (did it exit?)'));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(m);
  });
  let closing: Promise<number | null> | undefined;
  return {
    url,
    pid: child.pid,
    async window() {
      await request('window-started', { type: 'window-start' });
      return { end: () => request('window', { type: 'window-end' }) as Promise<LoopWindow> };
    },
    stderrTail: () => stderr,
    close(graceMs = 15_000) {
      closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const code = await exited;
          clearTimeout(killer);
          if (child.connected) child.disconnect();
          return code;
        }
        return child.exitCode;
      })();
      return closing;
    },
  };
}

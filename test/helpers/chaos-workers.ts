/**
 * Killing pool workers from the outside, for chaos runs. The pool's piscina instance is private,
 * but piscina constructs its threads through `require('node:worker_threads').Worker` at the
 * moment it needs one, so replacing that export with a subclass that remembers its instances
 * shows every worker thread this process starts from then on. Install before opening a pooled
 * ReadPath; terminating a live worker is a mid-run kill: its tasks die with it.
 */
import { createRequire } from 'node:module';
import type { Worker as WorkerType } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const wt = require('node:worker_threads') as { Worker: typeof WorkerType };

const live = new Set<WorkerType>();
let installed = false;

/** Start remembering worker threads (idempotent). */
export function installWorkerSpy(): void {
  if (installed) return;
  installed = true;
  const Original = wt.Worker;
  class SpiedWorker extends Original {
    constructor(...args: ConstructorParameters<typeof WorkerType>) {
      super(...args);
      live.add(this);
      this.once('exit', () => live.delete(this));
    }
  }
  wt.Worker = SpiedWorker;
}

/** Worker threads alive now. */
export function liveWorkers(): WorkerType[] {
  return [...live];
}

/** Terminate every live worker thread; resolves with how many there were once they are gone. */
export async function killAllWorkers(): Promise<number> {
  const ws = liveWorkers();
  await Promise.all(ws.map((w) => w.terminate()));
  return ws.length;
}

/**
 * Temporary files on an immediate exit. A second Ctrl-C ends the CLI at once (exit 130) without
 * waiting for the writes under way to notice their abort; pool workers are then stopped mid-write
 * and never remove their temporary files. Executors writing under `out` register here what they
 * know is being written, and the one `exit` listener removes those files synchronously — the
 * only kind of work an `exit` listener can do.
 */

const sweeps = new Set<() => void>();

function onExit(): void {
  for (const sweep of sweeps) {
    try {
      sweep();
    } catch {
      // One sweep's failure must not keep the others from running.
    }
  }
}

/**
 * Run `sweep` (synchronous; it must not throw away what it cannot remove) should the process
 * exit while it is registered. Returns its unregistration, idempotent.
 */
export function removeOnExit(sweep: () => void): () => void {
  if (sweeps.size === 0) process.on('exit', onExit);
  sweeps.add(sweep);
  return () => {
    if (!sweeps.delete(sweep)) return;
    if (sweeps.size === 0) process.off('exit', onExit);
  };
}

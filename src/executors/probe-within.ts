/**
 * `runProbe` under `server.backend_timeout` for backends that do not bound their own calls, for
 * both executors: readpath's S3 transports (and any backend saying `boundsCalls`) run as they are.
 */
import { boundCall } from '../engine/bounded-call.js';
import { describeKey } from '../engine/keys.js';
import type { KeyRing } from '../encryption/key-ring.js';
import type { UsagePort } from '../probe/billing.js';
import { runProbe } from '../probe/run.js';
import type { ProbeTask, Verdict } from '../probe/task.js';
import type { ObjectBackend } from '../types.js';

/**
 * Run the probe, bounded by `ms` (0: not bounded) when its backend does not bound its own calls:
 * past it the verdict is TIMEOUT whether or not the backend heeds the abort it is then sent (its
 * late answer is dropped). The request it was waiting on is billed; bytes it may have sent are
 * not known.
 */
export function runProbeWithin(ms: number, task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, keys: KeyRing | undefined): Promise<Verdict> {
  if (!(ms > 0) || backend.boundsCalls === true) return runProbe(task, backend, signal, usage, keys);
  const describe = (): string => `${task.backend}: ${task.op.toUpperCase()} ${describeKey(task.key)}`;
  return boundCall(backend, ms, signal, describe, (s) => runProbe(task, backend, s as AbortSignal, usage, keys))
    .catch((error: unknown): Verdict => ({ kind: 'error', error, api: 1, egress: 0 }));
}

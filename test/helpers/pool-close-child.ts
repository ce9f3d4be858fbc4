/**
 * Child process for the pool close test: opens a pool, runs probes (one cancelled, one left
 * running into close), closes it, and must then exit by itself — no thread, port or timer may
 * keep the process alive. Prints the active resources it sees after close as JSON.
 */
import { Recorder } from '../../src/telemetry/recorder.js';
import { PoolExecutor } from '../../src/executors/pool/executor.js';
import { SCRIPTED_BACKENDS_MODULE, ScriptedFleet } from './scripted-backends.js';

const fleet = new ScriptedFleet([{ name: 'b', objects: { k: 'v', h: 'x' }, keys: { h: { kind: 'hang' } } }]);
const backend = fleet.createBackends().get('b')!;
const before = process.getActiveResourcesInfo();
const pool = new PoolExecutor({ recorder: new Recorder(), backendModule: SCRIPTED_BACKENDS_MODULE, backendData: fleet.data, threads: 2, tasksPerThread: 4 });
const req = (signal: AbortSignal) => ({ backendName: 'b', signal, location: null, backend });
const ok = await pool.get('k')(req(new AbortController().signal));
const ac = new AbortController();
const cancelled = pool.get('h')(req(ac.signal)).catch((e: { code: string }) => e.code);
ac.abort();
const left = pool.get('h')(req(new AbortController().signal)).catch((e: { code: string }) => e.code);
await pool.close({ timeoutMs: 50 });
// Ports and handles of terminated threads are released a few loop turns after close()
// resolves (later on a loaded machine): wait, boundedly, for them to go.
const same = (a: string[], b: string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
let after = process.getActiveResourcesInfo();
for (let turn = 0; turn < 500 && !same(after, before); turn++) {
  await new Promise<void>((r) => (turn < 100 ? setImmediate(r) : setTimeout(r, 2)));
  after = process.getActiveResourcesInfo();
}
process.stdout.write(JSON.stringify({ body: new TextDecoder().decode(ok.value.body), cancelled: await cancelled, left: await left, before, after }) + '\n');

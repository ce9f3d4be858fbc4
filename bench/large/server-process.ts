/**
 * Big-object servers in a process of their own, driven over IPC: the stream bench measures the
 * main event loop of the process that reads, and servers generating GiBs in that same loop would
 * be measured with it. {@link startRemoteServers} forks this file; it answers each request with
 * one reply carrying the same id.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBigObjectServer, type BigObjectServer, type BigObjectStats, type Faults } from './big-object-server.js';
import { reportToBench } from '../child-report.js';

/** An object every server holds. */
export interface RemoteObject {
  key: string;
  size: number;
  seed: string;
}

type Request =
  | { id: number; op: 'start'; count: number; objects: RemoteObject[] }
  | { id: number; op: 'faults'; server: number; faults: Faults; key?: string }
  | { id: number; op: 'stats'; server: number }
  | { id: number; op: 'close' };

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Reply { id: number; ok: boolean; value?: unknown; error?: string }

/** The servers, seen from the bench process. */
export interface RemoteServers {
  urls: string[];
  setFaults(server: number, faults: Faults, key?: string): Promise<void>;
  stats(server: number): Promise<Omit<BigObjectStats, 'requests'> & { requests: { key: string; range: string | undefined; bytesSent: number }[] }>;
  close(): Promise<void>;
}

/** Fork the server process and start `count` servers holding `objects` (bucket `data`). */
export async function startRemoteServers(count: number, objects: RemoteObject[]): Promise<RemoteServers> {
  const child = fork(fileURLToPath(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (m: Reply) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m.value);
    else w?.reject(new Error(m.error));
  });
  child.on('exit', () => {
    for (const w of waiting.values()) w.reject(new Error('server process exited'));
  });
  const call = <T>(req: WithoutId<Request>): Promise<T> => new Promise<T>((resolve, reject) => {
    const id = ++next;
    waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
    child.send({ ...req, id });
  });
  const urls = await call<string[]>({ op: 'start', count, objects });
  return {
    urls,
    setFaults: (server, faults, key) => call({ op: 'faults', server, faults, ...(key === undefined ? {} : { key }) }),
    stats: (server) => call({ op: 'stats', server }),
    close: async () => {
      await call({ op: 'close' });
      child.disconnect();
    },
  };
}

// The child side.
if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  let servers: BigObjectServer[] = [];
  const reply = (r: Reply): void => reportToBench(r);
  // The bench gone (its end, or a signal: guardBenchProcess exits without a close call), the
  // channel closes; the listening servers would otherwise keep this process running for ever.
  process.on('disconnect', () => {
    void Promise.all(servers.map((s) => s.close())).finally(() => process.exit(0));
  });
  process.on('message', (req: Request) => {
    void (async () => {
      try {
        switch (req.op) {
          case 'start':
            servers = await Promise.all(Array.from({ length: req.count }, () => startBigObjectServer({ buckets: ['data'] })));
            for (const s of servers) for (const o of req.objects) s.addObject('data', o.key, { size: o.size, seed: o.seed });
            reply({ id: req.id, ok: true, value: servers.map((s) => s.url) });
            return;
          case 'faults':
            servers[req.server]?.setFaults(req.faults, req.key === undefined ? {} : { key: req.key });
            reply({ id: req.id, ok: true });
            return;
          case 'stats': {
            const st = servers[req.server]?.stats();
            reply({ id: req.id, ok: true, value: st === undefined ? undefined : { ...st, requests: st.requests.map((q) => ({ key: q.key, range: q.range, bytesSent: q.bytesSent })) } });
            return;
          }
          case 'close':
            await Promise.all(servers.map((s) => s.close()));
            reply({ id: req.id, ok: true });
            return;
        }
      } catch (err) {
        reply({ id: req.id, ok: false, error: String(err) });
      }
    })();
  });
}

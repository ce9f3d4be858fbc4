/**
 * The child-process entry of one local S3 backend (see local-s3.ts). It runs s3rver in its
 * own process so the demo's servers and its reader do not share one event loop (and one core).
 *
 * Protocol over the IPC channel: argv[2] is `{ directory, port, bucket }` as JSON; the child
 * answers `{ type: 'ready', port }` or `{ type: 'error', message }`; on `{ type: 'stop' }` it
 * closes the server and exits. It also exits when the parent goes away, so no server outlives
 * the demo.
 */
import S3rver from 's3rver';

interface Args { directory: string; port: number; bucket: string }

const send = (msg: unknown): void => {
  if (process.connected) process.send?.(msg);
};

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const server = new S3rver({
    address: '127.0.0.1', port: args.port, silent: true, directory: args.directory, configureBuckets: [{ name: args.bucket }],
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const closed = server.close();
      server.httpServer?.closeAllConnections();
      await closed.catch(() => {});
      process.exit(0);
    })();
    return stopping;
  };
  // The parent decides when we stop; a terminal's Ctrl-C reaches the parent, which stops us.
  process.on('SIGINT', () => {});
  process.on('disconnect', () => void stop());
  process.on('message', (m: unknown) => {
    if ((m as { type?: unknown } | null)?.type === 'stop') void stop();
  });
  try {
    const addr = await server.run();
    send({ type: 'ready', port: addr.port });
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}

void main();

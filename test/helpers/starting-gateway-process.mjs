/**
 * A gateway process of `readpath serve --processes N` as its primary sees it, for tests that
 * fork it in place of readpath (cluster.setupPrimary({ exec })): process 0 says it listens at
 * once; the others stay starting until told to stop. Each then says `{ test: 'up', index }`, so a
 * test knows they all run. `stop` from the primary ends it with 0; SIGTERM, which is how the
 * primary stops a process still starting, with 130 as readpath does when interrupted while it
 * starts.
 */
const index = Number((process.env.READPATH_GATEWAY_PROCESS ?? '').split('/')[0]);
process.on('message', (m) => {
  if (m !== null && typeof m === 'object' && m.rp === 'stop') process.exit(0);
});
process.on('SIGTERM', () => process.exit(130));
// Listening said first: once the test hears `up`, the primary has heard it too (one channel, in order).
if (index === 0) process.send({ rp: 'listening', url: 'http://127.0.0.1:9' });
process.send({ test: 'up', index });
// Held open until stopped (the IPC channel alone would do; this says so).
setInterval(() => {}, 1 << 30);

/**
 * A bench child's messages to the bench that started it (its stubs and S3 stand-ins). The bench
 * may be gone: stopped part-way while this child was still making its data set, before the child
 * could read the channel's end. Unhandled, the failed send is an EPIPE or ERR_IPC_CHANNEL_CLOSED
 * crash whose stack lands on the terminal the bench has left. A child whose bench is gone has
 * nobody left to serve: it exits quietly instead.
 */

/** Send `msg` to the bench over IPC; exit 0 if the bench is gone. */
export function reportToBench(msg: unknown): void {
  if (!process.connected) process.exit(0);
  process.send?.(msg, (err: Error | null) => {
    if (err !== null) process.exit(0);
  });
}

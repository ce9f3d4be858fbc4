/**
 * Keeps one specific AWS SDK warning off users' terminals.
 *
 * @aws-sdk/client-s3 (3.1175.0) calls, while it builds a client's runtime config,
 * `process.emitWarning("NodeVersionSupportWarning: The AWS SDK for JavaScript (v3) ...")`
 * on Node < 22 (see `emitWarningIfUnsupportedVersion` in `@aws-sdk/core/client`). It is a
 * plain `Warning` with no code, so `--no-deprecation` does not silence it and a
 * `process.on('warning')` listener cannot stop Node's default printer. The SDK's own switch is
 * the environment variable `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true`, but setting
 * it would leak into child processes and into the user's environment.
 *
 * The call is synchronous and happens only inside the `S3Client` constructor, and the SDK then
 * marks the warning as emitted for the rest of the process. So we swap `process.emitWarning`
 * for the duration of that constructor only, drop exactly this warning, and forward everything
 * else untouched.
 */

/** The prefix the SDK's Node-version warning starts with. */
export const SDK_NODE_VERSION_WARNING_PREFIX = 'NodeVersionSupportWarning';

/** True when `warning` is the AWS SDK's Node-version support warning (and nothing else). */
export function isSdkNodeVersionWarning(warning: unknown): boolean {
  const text =
    typeof warning === 'string' ? warning : warning instanceof Error ? warning.message : undefined;
  return (
    text !== undefined &&
    text.startsWith(SDK_NODE_VERSION_WARNING_PREFIX) &&
    text.includes('AWS SDK for JavaScript')
  );
}

/**
 * Run `fn` (synchronously) with the SDK's Node-version warning suppressed. Any other warning
 * emitted meanwhile is passed through to the original `process.emitWarning`. Re-entrant and
 * exception-safe: the original function is always restored, and if someone else replaced
 * `process.emitWarning` during `fn` their replacement is left in place.
 */
export function withoutSdkNodeVersionWarning<T>(fn: () => T): T {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, and called with process as `this`
  const original = process.emitWarning;
  const filtered = function emitWarning(this: unknown, warning: string | Error, ...rest: unknown[]): void {
    if (isSdkNodeVersionWarning(warning)) return;
    (original as (w: string | Error, ...r: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  process.emitWarning = filtered;
  try {
    return fn();
  } finally {
    if (process.emitWarning === filtered) process.emitWarning = original;
  }
}

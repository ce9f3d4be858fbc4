/**
 * One place that turns a resolved configuration's `backends[]` into S3 backend options and
 * builds the backend: the main thread (inline probes) and every pool worker go through here,
 * so both build the same client with the same credential rule.
 */
import type { ResolvedConfig } from '../config/types.js';
import { S3Backend, type S3BackendOptions } from './s3-backend.js';
import type { ObjectBackend } from '../types.js';

/**
 * The S3 backend options of a resolved configuration. Static keys are passed only when both
 * are set; otherwise the client uses its default credential chain (`credential_source:
 * default_chain`; the config checks make static keys required with `static`).
 */
export function s3OptionsFromConfig(config: ResolvedConfig): S3BackendOptions[] {
  return config.backends.map((b) => {
    const o: S3BackendOptions = {
      name: b.name,
      endpoint: b.endpoint,
      region: b.region,
      bucket: b.bucket,
      forcePathStyle: b.forcePathStyle,
      maxSockets: b.maxSockets,
      timeoutMs: config.server.backendTimeoutMs,
    };
    if (b.credentialSource === 'static' && b.accessKeyId !== '' && b.secretAccessKey !== '') {
      o.accessKeyId = b.accessKeyId;
      o.secretAccessKey = b.secretAccessKey;
    }
    return o;
  });
}

/** Load what S3 backends need before the first is built, so its first call does not wait. */
export async function preloadS3(): Promise<void> {
  await S3Backend.preload();
}

/** Build the S3 backend one set of options describes. */
export function createS3Backend(options: S3BackendOptions): ObjectBackend & { close(): Promise<void> } {
  return new S3Backend(options);
}

/**
 * One place that turns a resolved configuration's `backends[]` into S3 backend options and
 * builds the backend: the main thread (inline probes) and every pool worker go through here,
 * so both build the same client with the same credential rule and the same transport
 * (`backends[].client`: `lean`, SigV4 over undici, or `sdk`, @aws-sdk/client-s3).
 */
import type { ResolvedConfig } from '../config/types.js';
import { LeanS3Backend } from './lean-s3-backend.js';
import { S3Backend, type S3BackendOptions, type S3ClientKind } from './s3-backend.js';
import { credentialProviders } from './s3-credentials.js';
import type { ObjectBackend } from '../types.js';

/** The transport a backend gets when `client` is not set. */
export const DEFAULT_S3_CLIENT: S3ClientKind = 'lean';

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
    if (b.client !== undefined) o.client = b.client;
    if (b.credentialSource === 'static' && b.accessKeyId !== '' && b.secretAccessKey !== '') {
      o.accessKeyId = b.accessKeyId;
      o.secretAccessKey = b.secretAccessKey;
    }
    return o;
  });
}

/**
 * What {@link preloadS3} needs to know of a backend. Without an `endpoint`, a lean backend is
 * taken to need undici (as one over TLS does).
 */
export type PreloadS3Options = Pick<S3BackendOptions, 'client' | 'accessKeyId' | 'secretAccessKey' | 'credentials'> & { endpoint?: string };

/**
 * Load what S3 backends need before the first is built, so its first call does not wait.
 * Given the backends' options, only their transports (undici only for lean backends over TLS:
 * plain HTTP needs no package; and, for lean backends without keys, the AWS credential
 * providers); without them, both transports.
 */
export async function preloadS3(backends?: readonly PreloadS3Options[]): Promise<void> {
  const list: readonly PreloadS3Options[] = backends ?? [{ client: 'lean', accessKeyId: '', secretAccessKey: '' }, { client: 'sdk' }];
  const loads: Promise<unknown>[] = [];
  const kinds = new Set(list.map((b) => b.client ?? DEFAULT_S3_CLIENT));
  if (kinds.has('sdk')) loads.push(S3Backend.preload());
  if (list.some((b) => (b.client ?? DEFAULT_S3_CLIENT) === 'lean' && !plainHttp(b.endpoint))) loads.push(LeanS3Backend.preload());
  const chain = list.some((b) => (b.client ?? DEFAULT_S3_CLIENT) === 'lean' && b.credentials === undefined && (b.accessKeyId === undefined || b.secretAccessKey === undefined));
  if (chain) loads.push(credentialProviders.load());
  await Promise.all(loads);
}

/** Whether an endpoint is plain HTTP (a malformed one is left for the backend to refuse). */
function plainHttp(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  try {
    return new URL(endpoint).protocol === 'http:';
  } catch {
    return false;
  }
}

/** Build the S3 backend one set of options describes, on the transport its `client` names. */
export function createS3Backend(options: S3BackendOptions): ObjectBackend & { close(): Promise<void> } {
  return (options.client ?? DEFAULT_S3_CLIENT) === 'sdk' ? new S3Backend(options) : new LeanS3Backend(options);
}

/**
 * What the lean S3 transport needs from npm — undici's `Pool` and `@smithy/signature-v4` —
 * imported on first need, like the AWS SDK (s3-sdk.ts): a reader over in-memory or custom
 * backends, or a pool worker that serves none, does not load them.
 * {@link LeanS3Backend.preload} (through `preloadS3`) loads them before backends are built.
 */
import type { Pool } from 'undici';
import type { getSigningKey } from '@smithy/signature-v4';
import { lazyModule } from '../lazy-module.js';

/** The classes LeanS3Backend uses. */
export interface LeanS3Deps {
  Pool: typeof Pool;
  /** SigV4's key derivation (the SDK's own), for the signer's per-day key. */
  getSigningKey: typeof getSigningKey;
}

/** The lean transport's dependencies, imported once per thread. */
export const leanS3Deps = lazyModule<LeanS3Deps>(async () => {
  const [undici, sigv4] = await Promise.all([import('undici'), import('@smithy/signature-v4')]);
  return { Pool: undici.Pool, getSigningKey: sigv4.getSigningKey };
});

/**
 * The AWS SDK, loaded on first need. @aws-sdk/client-s3 and its handler keep ~4.4 MiB on the
 * JS heap for the life of the process, and V8 sizes its old generation as a multiple of the
 * live heap (see bench/RESULTS.md, Soak): a reader over in-memory or custom backends, or a
 * program that only imports readpath's types and helpers, should not pay for a client it
 * never builds. {@link S3Backend.preload} (which `ReadPath.open` calls when it builds S3
 * backends) loads it up front so the first read does not wait for the import.
 */
import type { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { NodeHttpHandler } from '@smithy/node-http-handler';

/** The SDK classes S3Backend uses. */
export interface S3Sdk {
  S3Client: typeof S3Client;
  GetObjectCommand: typeof GetObjectCommand;
  HeadObjectCommand: typeof HeadObjectCommand;
  NodeHttpHandler: typeof NodeHttpHandler;
}

let loaded: S3Sdk | undefined;
let loading: Promise<S3Sdk> | undefined;

/** Load the SDK (once per process; later calls share the first). */
export function loadS3Sdk(): Promise<S3Sdk> {
  loading ??= Promise.all([import('@aws-sdk/client-s3'), import('@smithy/node-http-handler')]).then(([s3, handler]) => {
    loaded = {
      S3Client: s3.S3Client,
      GetObjectCommand: s3.GetObjectCommand,
      HeadObjectCommand: s3.HeadObjectCommand,
      NodeHttpHandler: handler.NodeHttpHandler,
    };
    return loaded;
  }, (err: unknown) => {
    // A failed import may be retried (e.g. after a transient file-system error).
    loading = undefined;
    throw err;
  });
  return loading;
}

/** The SDK if it has finished loading, else undefined. */
export function loadedS3Sdk(): S3Sdk | undefined {
  return loaded;
}

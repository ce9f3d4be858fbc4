/**
 * The AWS SDK, loaded on first need. @aws-sdk/client-s3 and its handler keep ~4.4 MiB on the
 * JS heap for the life of the process (see lazy-module.ts): a reader over in-memory or custom
 * backends, or a program that only imports readpath's types and helpers, should not pay for a
 * client it never builds. {@link S3Backend.preload} (which `ReadPath.open` calls when it builds
 * S3 backends) loads it up front so the first read does not wait for the import.
 */
import type { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { lazyModule } from '../lazy-module.js';

/** The SDK classes S3Backend uses. */
export interface S3Sdk {
  S3Client: typeof S3Client;
  GetObjectCommand: typeof GetObjectCommand;
  HeadObjectCommand: typeof HeadObjectCommand;
  ListObjectsV2Command: typeof ListObjectsV2Command;
  NodeHttpHandler: typeof NodeHttpHandler;
}

/** The SDK, imported once per process. */
export const s3Sdk = lazyModule<S3Sdk>(async () => {
  const [s3, handler] = await Promise.all([import('@aws-sdk/client-s3'), import('@smithy/node-http-handler')]);
  return { S3Client: s3.S3Client, GetObjectCommand: s3.GetObjectCommand, HeadObjectCommand: s3.HeadObjectCommand, ListObjectsV2Command: s3.ListObjectsV2Command, NodeHttpHandler: handler.NodeHttpHandler };
});

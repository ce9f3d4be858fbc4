/**
 * The AWS SDK for JavaScript as the gateway tests drive `readpath serve`: path style, the
 * clients' region, no retries (a refusal is seen as the gateway answered it), with `extra` on
 * top (another request handler, virtual-hosted addressing, retries).
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { withoutSdkNodeVersionWarning } from '../../src/backends/sdk-warning.js';

/** A key pair the gateway knows (`buckets[].credentials`). */
export interface GatewayCred { id: string; secret: string }

/** An SDK client of the gateway at `endpoint`, signing with `cred`. */
export function gatewaySdk(endpoint: string, cred: GatewayCred, extra: Partial<S3ClientConfig> = {}): S3Client {
  return withoutSdkNodeVersionWarning(() => new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1,
    credentials: { accessKeyId: cred.id, secretAccessKey: cred.secret }, ...extra,
  }));
}

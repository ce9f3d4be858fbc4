/**
 * `readpath serve` over memory backends and store, for fast gateway tests: one bucket readable
 * by one credential, the gateway on a free loopback port, and the AWS SDK signing with that
 * credential.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { gatewaySdk } from './gateway-sdk.js';
import { openMemoryReadPath } from './memory-readpath.js';

/** A running memory gateway: the reader and its parts, the gateway, an SDK client of it. */
export interface MemoryGateway {
  m: Awaited<ReturnType<typeof openMemoryReadPath>>;
  gw: Gateway;
  s3: S3Client;
  close(): Promise<void>;
}

/** Start one serving `bucket` to `cred` over two memory backends; `extra` adds configuration. */
export async function startMemoryGateway(bucket: string, cred: { id: string; secret: string }, extra: Partial<ReadPathConfig> = {}): Promise<MemoryGateway> {
  const m = await openMemoryReadPath(2, {
    buckets: [{ name: bucket, credentials: [{ access_key_id: cred.id, secret_access_key: cred.secret }] }],
    server: { listen_addr: '127.0.0.1:0' },
    ...extra,
  });
  const gw = await startGateway(m.rp, { settings: m.rp.config.gateway });
  const s3 = gatewaySdk(gw.url, cred);
  return {
    m, gw, s3,
    async close() {
      s3.destroy();
      await gw.close(1000);
      await m.rp.close();
    },
  };
}

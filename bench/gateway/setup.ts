/**
 * What `readpath serve` needs for one stub data set: the peers' setup (bench/peers/
 * readpath-setup.ts: a SQLite `object_locations` file with every object on every stub backend
 * and its SHA-256 `content_hash`, the backends' YAML) plus one gateway bucket. The stub's keys
 * are `{set}/NN/NNNNNN.bin` and the gateway reads store key `{bucket}/{key}`, so the bucket is
 * named after the set and `s3://{set}/NN/NNNNNN.bin` is stub object `{set}/NN/NNNNNN.bin`.
 * The bucket's credential is the stub's key pair, so the peers' rclone invocation (which signs
 * with it) works unchanged against either endpoint. Everything else is the default: pool
 * runtime, `info` access log, no admission limit.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { STUB_ACCESS_KEY, STUB_SECRET_KEY, configYaml, writeReadpathSetup, type ReadpathSetup } from '../peers/readpath-setup.js';
import type { StubFleet } from '../peers/stub-fleet.js';

/** Files of one gateway setup. */
export interface GatewaySetup extends ReadpathSetup {
  /** The configuration `readpath serve` runs with. */
  gatewayConfig: string;
  /** The gateway's one bucket. */
  bucket: string;
}

/** The `buckets:` section: one bucket, readable with the stub's key pair. */
export function bucketsYaml(bucket: string): string {
  return `buckets:\n  - name: ${JSON.stringify(bucket)}\n    credentials:\n      - access_key_id: ${STUB_ACCESS_KEY}\n        secret_access_key: ${STUB_SECRET_KEY}\n`;
}

/** Write the database, the configurations and the key file into `dir`; the bucket is `set`. */
export async function writeGatewaySetup(fleet: StubFleet, dir: string, set: string): Promise<GatewaySetup> {
  const setup = await writeReadpathSetup(fleet, dir);
  const gatewayConfig = path.join(dir, 'readpath-serve.yaml');
  await writeFile(gatewayConfig, configYaml(fleet, setup.db, bucketsYaml(set)));
  return { ...setup, gatewayConfig, bucket: set };
}

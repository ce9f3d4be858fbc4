/**
 * `readpath serve` over a fresh s3rver fleet, as the gateway's client tests set it up: every
 * object on two backends with its SHA-256 in a SQLite `object_locations` file, one gateway
 * bucket per entry of `buckets` (its key `{bucket}/{key}` in the store), the gateway spawned as
 * users run it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/verify.js';
import type { ObjectLocation } from '../../src/types.js';
import { startS3Fleet, type S3Fleet } from './s3-fleet.js';
import { killServe, startServe, type ClientCred, type Serve } from './s3-clients.js';

/** One gateway bucket: the credentials that read it and what it holds. */
export interface FixtureBucket {
  name: string;
  creds: readonly ClientCred[];
  objects?: ReadonlyMap<string, Buffer>;
  /** Keys of `objects` whose rows record no content_hash (as rows written before upstream kept one). */
  noHash?: ReadonlySet<string>;
}

/** A running fixture; `close()` stops the gateway and the fleet and removes `tmp`. */
export interface GatewayFixture {
  tmp: string;
  /** The configuration file the gateway was started with, and what was written to it. */
  configPath: string;
  configDoc: Record<string, unknown>;
  fleet: S3Fleet;
  serve: Serve;
  close(): Promise<void>;
}

/** Start the fleet, write the database and configuration under a new temporary directory, start the gateway. */
export async function startGatewayFixture(o: {
  tmpPrefix: string;
  buckets: readonly FixtureBucket[];
  server?: Record<string, unknown>;
  /** More top-level sections of the configuration (`rate_limit:`, ...). */
  sections?: Record<string, unknown>;
}): Promise<GatewayFixture> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), o.tmpPrefix));
  let fleet: S3Fleet | undefined;
  let serve: Serve | undefined;
  const configPath = path.join(tmp, 'readpath.yaml');
  let configDoc: Record<string, unknown>;
  try {
    fleet = await startS3Fleet({ count: 2 });
    const rows: ObjectLocation[] = [];
    let t = Date.UTC(2026, 0, 1);
    for (const b of o.buckets) {
      for (const [k, v] of b.objects ?? []) {
        const key = `${b.name}/${k}`;
        await fleet.seed(key, v, ['b1', 'b2']);
        for (const name of ['b1', 'b2']) rows.push({ objectKey: key, backendName: name, sizeBytes: v.length, createdAt: new Date(t++), encrypted: false, contentHash: b.noHash?.has(k) === true ? null : sha256Hex(v) });
      }
    }
    const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
    await store.addLocations(rows);
    await store.close();
    const f = fleet;
    configDoc = {
      backends: f.backends.map((b) => f.backendConfig(b.name)),
      database: { driver: 'sqlite', path: 'meta.db' },
      ...(o.server === undefined ? {} : { server: o.server }),
      runtime: { threads: 1 },
      logging: { level: 'warn' },
      buckets: o.buckets.map((b) => ({ name: b.name, credentials: b.creds.map((c) => ({ access_key_id: c.id, secret_access_key: c.secret })) })),
      ...o.sections,
    };
    await writeFile(configPath, stringify(configDoc));
    serve = await startServe(configPath);
  } catch (err) {
    await fleet?.close();
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const started = { fleet, serve };
  return {
    tmp, configPath, configDoc, ...started,
    close: async () => {
      await killServe(started.serve);
      await started.fleet.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * What readpath needs to read a stub data set: a SQLite file of s3-orchestrator's
 * `object_locations` table (every object on every backend, with its SHA-256 `content_hash`, so
 * every body is verified before it is written), a YAML configuration naming the backends, and
 * a key file. The first stored copy rotates over the backends, so each one serves its share.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import type { ObjectLocation } from '../../src/types.js';
import type { StubFleet } from './stub-fleet.js';

/** Credentials the stub accepts (it checks none). */
export const STUB_ACCESS_KEY = 'peers-bench';
export const STUB_SECRET_KEY = 'peers-bench-secret';

/** Files of one readpath setup. */
export interface ReadpathSetup {
  /** Default runtime (the pool). */
  config: string;
  /** The same with `runtime.mode: inline`. */
  inlineConfig: string;
  keys: string;
  db: string;
}

/** Backend names of a fleet: b1, b2, ... */
export function backendNames(fleet: StubFleet): string[] {
  return fleet.endpoints.map((_, i) => `b${i + 1}`);
}

/** The YAML configuration (defaults for everything but the backends and the database). */
export function configYaml(fleet: StubFleet, dbPath: string, extra = ''): string {
  const names = backendNames(fleet);
  const backends = fleet.endpoints.map((endpoint, i) => `  - name: ${names[i] as string}
    endpoint: "${endpoint}"
    region: us-east-1
    bucket: ${fleet.buckets[i] as string}
    access_key_id: ${STUB_ACCESS_KEY}
    secret_access_key: ${STUB_SECRET_KEY}
    force_path_style: true`).join('\n');
  return `backends:\n${backends}\ndatabase:\n  driver: sqlite\n  path: ${JSON.stringify(dbPath)}\n${extra}`;
}

/** Write the database, the configuration and the key file into `dir`. */
export async function writeReadpathSetup(fleet: StubFleet, dir: string): Promise<ReadpathSetup> {
  const db = path.join(dir, 'object_locations.db');
  const names = backendNames(fleet);
  const rows: ObjectLocation[] = [];
  const base = Date.UTC(2025, 0, 1);
  fleet.objects.forEach((o, i) => {
    for (let r = 0; r < names.length; r++) {
      const backendName = names[(i + r) % names.length] as string;
      rows.push({ objectKey: o.key, backendName, sizeBytes: o.size, createdAt: new Date(base + i * 10 + r), encrypted: false, contentHash: o.sha256 });
    }
  });
  const store = await SqliteMetadataStore.open({ path: db });
  try {
    await store.addLocations(rows);
  } finally {
    await store.close();
  }
  const config = path.join(dir, 'readpath.yaml');
  await writeFile(config, configYaml(fleet, db));
  const inlineConfig = path.join(dir, 'readpath-inline.yaml');
  await writeFile(inlineConfig, configYaml(fleet, db, 'runtime:\n  mode: inline\n'));
  const keys = path.join(dir, 'keys.txt');
  await writeFile(keys, fleet.objects.map((o) => o.key).join('\n') + '\n');
  return { config, inlineConfig, keys, db };
}

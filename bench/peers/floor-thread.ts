/**
 * One thread of the peer bench's floor client (floor-client.ts, whose comment says what the
 * modes do): its share of the keys, read `inflight / threads` at a time.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RawHttpPool } from '../../src/backends/raw-http.js';
import { bareHost, objectPath, s3Address, type S3Address } from '../../src/backends/s3-address.js';
import { S3Signer, UNSIGNED_PAYLOAD } from '../../src/backends/s3-signer.js';
import type { FloorPlan } from './floor-client.js';

/** A thread's task. */
export interface ThreadData {
  plan: FloorPlan;
  keys: string[];
}

/** What a thread read; `error` names the first key that failed, after which it stopped. */
export interface Done {
  objects: number;
  bytes: number;
  error?: string;
}

interface Target {
  address: S3Address;
  pool: RawHttpPool;
  signer: S3Signer;
}

export default async function runThread({ plan, keys }: ThreadData): Promise<Done> {
  const perThread = Math.max(1, Math.ceil(plan.inflight / plan.threads));
  const targets = new Map<string, Target>();
  for (const b of plan.backends) {
    const address = s3Address(b.endpoint, b.bucket, true);
    const creds = { accessKeyId: plan.accessKeyId, secretAccessKey: plan.secretAccessKey };
    targets.set(b.name, {
      address,
      pool: new RawHttpPool(bareHost(new URL(address.origin).hostname), address.port ?? 80, { connections: perThread }),
      signer: new S3Signer(address, 'us-east-1', () => Promise.resolve(creds)),
    });
  }
  const inTurn = [...targets.values()];
  const db = plan.mode === 'contract' ? new Database(plan.db, { readonly: true, fileMustExist: true }) : undefined;
  const select = db?.prepare('SELECT backend_name, size_bytes, content_hash, created_at FROM object_locations WHERE object_key = ?').raw(true);
  const dirs = new Set<string>();
  let objects = 0;
  let bytes = 0;
  let next = 0;

  /** Each lane's body buffer, reused from read to read and grown to the largest row. */
  const buffers: Buffer[] = [];

  const readOne = async (key: string, i: number, laneNo: number): Promise<void> => {
    if (select === undefined) {
      const t = inTurn[i % inTurn.length] as Target;
      const { statusCode, body } = await t.pool.request({ path: objectPath(t.address, key), method: 'GET', headers: { host: t.address.host } });
      let n = 0;
      for await (const chunk of body) n += (chunk as Buffer).byteLength;
      if (statusCode !== 200) throw new Error(`${key}: HTTP ${statusCode}`);
      objects++;
      bytes += n;
      return;
    }
    const rows = select.all(key) as [string, number, string | null, string][];
    let row = rows[0];
    for (const r of rows) if (row !== undefined && r[3] < row[3]) row = r;
    if (row === undefined) throw new Error(`${key}: no row`);
    const target = targets.get(row[0]);
    if (target === undefined) throw new Error(`${key}: unknown backend ${row[0]}`);
    const p = objectPath(target.address, key);
    const headers = await target.signer.sign('GET', p, { host: target.address.host, 'x-amz-content-sha256': UNSIGNED_PAYLOAD });
    // The body straight into the lane's buffer, as readpath's lean transport reads a file body
    // into one reused per connection: no allocation per body.
    let into = buffers[laneNo];
    if (into === undefined || into.byteLength < row[1]) buffers[laneNo] = into = Buffer.allocUnsafeSlow(row[1]);
    const { statusCode, body } = await target.pool.request({ path: p, method: 'GET', headers, into });
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      n += (chunk as Buffer).byteLength;
    }
    if (statusCode !== 200) throw new Error(`${key}: HTTP ${statusCode}`);
    // Chunks read into the buffer are its consecutive views from byte 0.
    const data = chunks.length === 1 ? chunks[0] as Buffer : chunks[0]?.buffer === into.buffer ? into.subarray(0, n) : Buffer.concat(chunks);
    if (data.byteLength !== row[1] || createHash('sha256').update(data).digest('hex') !== row[2]) throw new Error(`${key}: body does not match its row`);
    const file = path.join(plan.out, key);
    const dir = path.dirname(file);
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    const temp = `${file}.floor-${process.pid}.tmp`;
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    try {
      writeSync(fd, data);
    } catch (err) {
      closeSync(fd);
      unlinkSync(temp);
      throw err;
    }
    closeSync(fd);
    renameSync(temp, file);
    objects++;
    bytes += data.byteLength;
  };

  const lane = async (laneNo: number): Promise<void> => {
    while (next < keys.length) {
      const i = next++;
      await readOne(keys[i] as string, i, laneNo);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(perThread, keys.length) }, (_, laneNo) => lane(laneNo)));
    return { objects, bytes };
  } catch (err) {
    return { objects, bytes, error: err instanceof Error ? err.message : String(err) };
  } finally {
    db?.close();
    await Promise.all([...targets.values()].map((t) => t.pool.close()));
  }
}


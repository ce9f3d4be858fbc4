/**
 * How often a store looks again at the database's schema. s3-orchestrator adds columns and
 * tables when it migrates, which happens when it is upgraded — possibly while readpath reads the
 * same database. A column readpath does not select goes unread (a compressed copy would be taken
 * for its stored bytes, an unmanaged row served), so the stores look again now and then rather
 * than only when they first connect.
 */
import { ReadPathError } from '../errors.js';

/** A schema recheck interval from a store's options: a non-negative number of ms, `fallback` when absent. */
export function checkRecheckMs(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ReadPathError('INVALID_CONFIG', `schemaRecheckMs: must be a non-negative number of ms, got ${String(value)}`);
  }
  return value;
}

/**
 * Building backends from data: S3 options and/or a backend module's factory. Pool workers build
 * theirs this way; so does the main thread when it needs backends of its own in pool mode (a
 * stream's bytes are read where their consumer is: see streams/object-stream.ts).
 */
import { ReadPathError, messageOf } from '../errors.js';
import { importModule } from '../probe/transform.js';
import type { ObjectBackend } from '../types.js';
import type { S3BackendOptions } from './s3-backend.js';

/** A backend module's factory: builds backends from structured-cloneable data. */
export type CreateBackends = (data: unknown) => Iterable<ObjectBackend> | Promise<Iterable<ObjectBackend>>;

/** What to build. */
export interface BackendRecipe {
  /** S3 backends, in the shape `createS3Backend` takes. */
  s3?: S3BackendOptions[] | undefined;
  /** file: URL of a module exporting `createBackends(data)` (or a default export). */
  backendModule?: string | undefined;
  /** Data handed to `createBackends`. */
  backendData?: unknown;
}

/** Build the backends a recipe names, by name. */
export async function buildBackends(recipe: BackendRecipe): Promise<Map<string, ObjectBackend>> {
  const map = new Map<string, ObjectBackend>();
  if (recipe.s3 !== undefined && recipe.s3.length > 0) {
    // Loaded only when needed: a transport costs tens of ms of startup per thread.
    const s3 = (await importModule(new URL('./s3-options.js', import.meta.url).href)) as unknown as typeof import('./s3-options.js');
    await s3.preloadS3(recipe.s3);
    for (const o of recipe.s3) map.set(o.name, s3.createS3Backend(o));
  }
  if (recipe.backendModule !== undefined) {
    let mod: { createBackends?: unknown; default?: unknown };
    try {
      mod = await importModule(recipe.backendModule);
    } catch (err) {
      throw new ReadPathError('INVALID_CONFIG', `backendModule ${recipe.backendModule}: cannot load: ${messageOf(err)}`, { cause: err });
    }
    const create = (mod.createBackends ?? mod.default) as CreateBackends | undefined;
    if (typeof create !== 'function') {
      throw new ReadPathError('INVALID_CONFIG', `backendModule ${recipe.backendModule}: exports no createBackends function`);
    }
    for (const b of await create(recipe.backendData)) map.set(b.name, b);
  }
  return map;
}

/** Close every backend that can be closed (S3 clients and their sockets). */
export async function closeBackends(backends: Iterable<ObjectBackend>): Promise<void> {
  const closing: Promise<void>[] = [];
  for (const b of backends) {
    const close = (b as { close?: () => Promise<void> }).close;
    if (typeof close === 'function') closing.push(close.call(b));
  }
  await Promise.allSettled(closing);
}

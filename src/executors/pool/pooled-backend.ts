/**
 * What the main thread holds for a backend whose probes run in the pool: its name. The S3
 * client, its SDK and its sockets live in the workers; reads reach it through the pool
 * executor's probes, never through this object.
 */
import { ReadPathError } from '../../errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../../types.js';

function elsewhere(name: string): ReadPathError {
  return new ReadPathError('BACKEND_UNAVAILABLE', `backend ${name} lives in the probe pool's workers: read it through the pool executor's probes`);
}

/** A backend served by the pool's workers, as the failover on the main thread names it. */
export class PooledBackend implements ObjectBackend {
  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  head(): Promise<HeadResult> {
    return Promise.reject(elsewhere(this.name));
  }

  get(): Promise<GetResult> {
    return Promise.reject(elsewhere(this.name));
  }
}

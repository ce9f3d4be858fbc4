/**
 * Backend module for the dispatch-overhead bench: backends that answer HEAD at once, built
 * inside each pool worker (and on the main thread for the inline baseline).
 */
import { Readable } from 'node:stream';
import type { GetResult, HeadResult, ObjectBackend } from '../src/types.js';

const head: HeadResult = { size: 1 };

/** `createBackends(names)`: one instant backend per name. */
export function createBackends(names: string[]): ObjectBackend[] {
  return names.map((name) => ({
    name,
    head: (): Promise<HeadResult> => Promise.resolve(head),
    get: (): Promise<GetResult> => Promise.resolve({ size: 1, body: Readable.from([Buffer.from('x')]) }),
  }));
}

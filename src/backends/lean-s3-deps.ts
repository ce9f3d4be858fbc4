/**
 * What the lean S3 transport needs from npm for TLS endpoints — undici's `Pool` — imported on
 * first need, like the AWS SDK (s3-sdk.ts): a reader over plain-HTTP, in-memory or custom
 * backends, or a pool worker that serves none, does not load it (plain HTTP goes on
 * raw-http.ts). {@link LeanS3Backend.preload} (through `preloadS3`, for backends over TLS) loads
 * it before backends are built. (SigV4 needs nothing from npm: s3-signer.ts derives its keys
 * over node:crypto.)
 *
 * Only the `Pool` is loaded, from its own file: every thread that reads from S3 (the main
 * thread inline, each pool worker) pays for what it loads, and undici's index loads the whole
 * package — fetch, WebSocket, cache, mock agents, interceptors — of which we use one class.
 * Measured on the 2-core dev machine (Node 20.20.2, undici 7.30.3): `import('undici')`
 * 119–141 ms, `undici/lib/dispatcher/pool.js` plus `lib/api` ~45 ms. undici 7 has no
 * `exports` map, so the deep paths resolve; should a later undici move or hide them, we fall
 * back to the package's index, which is always correct, only slower to load.
 */
import { createRequire } from 'node:module';
import type { Pool } from 'undici';
import { lazyModule } from '../lazy-module.js';

/** The classes LeanS3Backend uses. */
export interface LeanS3Deps {
  Pool: typeof Pool;
}

/** The API methods undici's index puts on `Dispatcher.prototype` (`request` is ours). */
const API_METHODS = ['request', 'stream', 'pipeline', 'upgrade', 'connect'] as const;

/**
 * undici's `Pool` from its own module, with the `request`/`stream`/… methods that undici's
 * index.js attaches to `Dispatcher.prototype` (`Object.assign(Dispatcher.prototype, api)`)
 * attached the same way: the same functions from the same (shared) module cache, so a later
 * `import('undici')` anywhere in the process repeats the assignment harmlessly. Undefined when
 * the files are not where undici 7 keeps them.
 */
export function poolFromDeepPath(require: NodeJS.Require = createRequire(import.meta.url)): typeof Pool | undefined {
  try {
    const PoolClass = require('undici/lib/dispatcher/pool.js') as typeof Pool;
    const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
    const api = require('undici/lib/api/index.js') as Record<string, unknown>;
    if (typeof PoolClass !== 'function' || !(PoolClass.prototype instanceof (Dispatcher as unknown as new () => object))) return undefined;
    if (!API_METHODS.every((m) => typeof api[m] === 'function')) return undefined;
    const proto = Dispatcher.prototype as Record<string, unknown>;
    for (const m of API_METHODS) if (proto[m] === undefined) proto[m] = api[m];
    return typeof (PoolClass.prototype as { request?: unknown }).request === 'function' ? PoolClass : undefined;
  } catch {
    return undefined;
  }
}

/** The lean transport's dependencies, imported once per thread. */
export const leanS3Deps = lazyModule<LeanS3Deps>(async () => {
  const deep = poolFromDeepPath();
  if (deep !== undefined) return { Pool: deep };
  const undici = await import('undici');
  return { Pool: undici.Pool };
});

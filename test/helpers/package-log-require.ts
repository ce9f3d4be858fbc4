/**
 * The CommonJS half of package-log-hooks.mjs, for the lazy-loading tests' children: ESM
 * resolve hooks do not see `require()` (Node 20), and some of our dependencies are loaded that
 * way — undici's Pool by its own file (src/backends/lean-s3-deps.ts) — as are the packages a
 * CommonJS package requires. Appends every npm package a `require()` resolves into to `log`.
 */
import { appendFileSync } from 'node:fs';
import Module from 'node:module';

type ResolveFilename = (this: unknown, request: string, ...rest: unknown[]) => string;

export function logRequiredPackages(log: string): void {
  const M = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = M._resolveFilename;
  M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    const file = original.call(this, request, ...rest);
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
    if (m !== null) appendFileSync(log, `${m[1]}\n`);
    return file;
  };
}

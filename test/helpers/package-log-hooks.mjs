// Module hooks for test/unit/lazy-dependencies.test.ts: every npm package a module is resolved
// from is appended, once per resolution, to the file named by READPATH_PACKAGE_LOG.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(r.url);
  if (m !== null && process.env.READPATH_PACKAGE_LOG) appendFileSync(process.env.READPATH_PACKAGE_LOG, `${m[1]}\n`);
  return r;
}

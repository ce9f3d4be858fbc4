/**
 * A dependency imported on first need. Several of readpath's dependencies (the AWS SDK, pg,
 * prom-client) keep their code on the JS heap for the life of the process once imported, and
 * V8 sizes its old generation as a multiple of the live heap (bench/RESULTS.md, Soak): a
 * program that never uses them should not carry them.
 */

/** One lazily imported module. */
export interface LazyModule<T> {
  /** Import it (once per process; later calls share the first). A failed import may be retried. */
  load(): Promise<T>;
  /** The module if it has finished loading, else undefined: lets callers stay synchronous. */
  loaded(): T | undefined;
}

/** Wrap `importer` (e.g. `() => import('pg').then((m) => m.default)`) so it runs at most once. */
export function lazyModule<T>(importer: () => Promise<T>): LazyModule<T> {
  let value: T | undefined;
  let loading: Promise<T> | undefined;
  return {
    load(): Promise<T> {
      loading ??= importer().then((m) => {
        value = m;
        return m;
      }, (err: unknown) => {
        // A transient failure (e.g. a file-system error) should not poison later attempts.
        loading = undefined;
        throw err;
      });
      return loading;
    },
    loaded: () => value,
  };
}

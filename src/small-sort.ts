/**
 * Sorting the few-element arrays of a hot path: a key's rows (its copies), a request's header
 * names. The builtin sort allocates a work array per call, and these run once or twice per read.
 */

/**
 * Sort `items` in place by insertion, stably (`before(a, b) > 0` moves `b` ahead of `a`), and
 * return it. Quadratic: for arrays of a handful of elements only.
 */
export function insertionSort<T>(items: T[], before: (a: T, b: T) => number): T[] {
  for (let i = 1; i < items.length; i++) {
    const item = items[i] as T;
    let j = i - 1;
    while (j >= 0 && before(items[j] as T, item) > 0) {
      items[j + 1] = items[j] as T;
      j--;
    }
    items[j + 1] = item;
  }
  return items;
}

/** Strings in code-unit order, as the builtin sort orders them by default. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

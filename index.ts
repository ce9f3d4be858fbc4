/**
 * The package's entry (`exports["."]`, built to `dist/index.js` as API.md names it): the public
 * API of `src/index.ts`, re-exported whole, so the contract's path and the sources' layout agree.
 */
export * from './src/index.js';

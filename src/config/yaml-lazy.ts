/**
 * The `yaml` package, required on first use. It keeps ~0.6 MiB on the JS heap for the life of
 * the process, and V8 sizes its old generation as a multiple of the live heap (bench/RESULTS.md,
 * Soak): a reader configured from an object, which never parses or prints YAML, should not carry
 * it. Synchronous (`require`), because `renderConfigForDisplay` is; under Node, `import 'yaml'`
 * resolves to the same CommonJS build, so there is one instance either way.
 */
import { createRequire } from 'node:module';

type YamlModule = typeof import('yaml');

const require = createRequire(import.meta.url);
let yamlModule: YamlModule | undefined;

/** The yaml module, loaded at the first call. */
export function yaml(): YamlModule {
  yamlModule ??= require('yaml') as YamlModule;
  return yamlModule;
}

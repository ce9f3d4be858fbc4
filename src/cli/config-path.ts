/**
 * The configuration file a command reads when `-c` is not given. Its own module so that
 * program.ts can name it in every command's help without importing reader.ts, which imports
 * the whole reader (ReadPath, zod, the stores, the worker pool): `readpath --version`/`--help`
 * and the parse before any command would load all of it for one string.
 */
export const DEFAULT_CONFIG_PATH = './readpath.yaml';

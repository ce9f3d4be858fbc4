/**
 * Loading a readpath configuration: a YAML file (s3-orchestrator's config.yaml keys) or an
 * already-parsed object, through `${VAR}` expansion, validation and defaults, to a
 * {@link ResolvedConfig}. Every failure is an {@link InvalidConfigError} (`INVALID_CONFIG`).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { yaml } from './yaml-lazy.js';
import { z } from 'zod';
import { crossFieldIssues } from './checks.js';
import { kindOf } from './duration.js';
import { readEncryptionFiles } from './encryption-files.js';
import type { ConfigEnv } from './env.js';
import { readGatewayFiles } from './gateway-files.js';
import {
  configErrorMap, formatPath, fsReason, InvalidConfigError, sortByDocumentOrder, suggestKey, type ConfigIssue, type RawIssue,
} from './issues.js';
import { isPlainObject, prepareDocument } from './prepare.js';
import { resolveConfig } from './resolve.js';
import { configSchema } from './schema.js';
import type { ReadPathConfigInput, ResolvedConfig } from './types.js';

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Where `${VAR}` references are read from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * The directory relative paths (a SQLite `path`, the files `encryption:` and `server.tls` name) resolve
   * against. Default: the config file's directory for a file, `process.cwd()` for an object.
   */
  baseDir?: string | undefined;
  /**
   * Worker threads when the configuration does not set `runtime.threads`. Default: one per core
   * but the main thread's (at least 1, at most 8). A program whose main thread has little to do
   * (the CLI's `batch`) may ask for one per core.
   */
  defaultThreads?: number | undefined;
  /**
   * Worker threads whatever `runtime.threads` says: a program's own override (the CLI's
   * `batch --threads N`). `runtime.max_in_flight`, when not set, follows it.
   */
  threads?: number | undefined;
}

/**
 * Load, validate and resolve a configuration.
 *
 * @param input a path to a YAML file, or an already-parsed config object (snake_case keys).
 * @returns the camelCased, fully defaulted configuration; durations are in milliseconds.
 * @throws InvalidConfigError (code `INVALID_CONFIG`) naming every offending field, first one first;
 *   also for a missing file or a YAML syntax error (naming the file and line).
 */
export async function loadConfig(input: ReadPathConfigInput | string, opts: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const env = opts.env ?? process.env;
  for (const [name, t] of [['defaultThreads', opts.defaultThreads], ['threads', opts.threads]] as const) {
    if (t !== undefined && !(Number.isSafeInteger(t) && t >= 1)) {
      throw new InvalidConfigError([{ path: name, message: `expected a whole number of threads, at least 1; got ${String(t)}` }]);
    }
  }
  const threads = { defaultThreads: opts.defaultThreads, threads: opts.threads };
  if (typeof input === 'string') {
    if (input.trim() === '') throw new InvalidConfigError([{ path: '', message: 'the config file path is empty' }]);
    const file = resolvePath(input);
    const doc = await readYamlFile(input, file);
    return validateConfig(doc, { env, baseDir: opts.baseDir ?? dirname(file), file, displayName: input, ...threads });
  }
  return validateConfig(input, { env, baseDir: opts.baseDir ?? process.cwd(), file: null, ...threads });
}

/** Context for {@link validateConfig}. */
export interface ValidateContext {
  env: ConfigEnv;
  /** Absolute or relative; resolved against the working directory. */
  baseDir: string;
  /** The absolute config file path, or null for an object. */
  file: string | null;
  /** How the file is named in messages (default: `file`). */
  displayName?: string;
  /** See {@link LoadConfigOptions.defaultThreads}. */
  defaultThreads?: number | undefined;
  /** See {@link LoadConfigOptions.threads}. */
  threads?: number | undefined;
}

/**
 * Validate and resolve an already-parsed document (synchronous core of {@link loadConfig}; the
 * few files an enabled `encryption:` section and `server.tls` name are read synchronously).
 */
export function validateConfig(doc: unknown, ctx: ValidateContext): ResolvedConfig {
  const display = ctx.displayName ?? ctx.file ?? undefined;
  if (!isPlainObject(doc)) {
    const message = doc === null || doc === undefined ? 'the configuration is empty' : `expected an object (mapping), got ${kindOf(doc)}`;
    throw new InvalidConfigError([{ path: '(root)', message }], { file: display });
  }
  const prepared = prepareDocument(doc, ctx.env);
  const parsed = configSchema.safeParse(prepared.value, { error: configErrorMap });
  const schemaIssues = parsed.success ? [] : zodIssues(parsed.error.issues);
  const crossIssues = crossFieldIssues(prepared.value);
  const baseDir = resolvePath(ctx.baseDir);
  // The files `encryption:` names (master_key_file, vault.ca_cert, vault.token_file), read now.
  const encryptionFiles = readEncryptionFiles(prepared.value, baseDir);
  // The files `server.tls` names (cert_file, key_file, client_ca_file), read now too.
  const gatewayFiles = readGatewayFiles(prepared.value, baseDir);
  // A value whose ${VAR} did not expand also fails its type or format check; report the cause only.
  const unexpanded = new Set(prepared.issues.map((i) => formatPath(i.path)));
  const rest = [...schemaIssues, ...crossIssues, ...encryptionFiles.issues, ...gatewayFiles.issues].filter((i) => !unexpanded.has(formatPath(i.path)));
  const all = sortByDocumentOrder([...prepared.issues, ...rest], prepared.value);
  if (all.length > 0 || !parsed.success) {
    const issues: ConfigIssue[] = dedupe(all.map((i) => ({ path: formatPath(i.path), message: i.message })));
    throw new InvalidConfigError(issues.length > 0 ? issues : [{ path: '(root)', message: 'invalid configuration' }], { file: display });
  }
  return resolveConfig(parsed.data, { baseDir, file: ctx.file, encryptionFiles: encryptionFiles.files, gatewayFiles: gatewayFiles.files, defaultThreads: ctx.defaultThreads, threads: ctx.threads });
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function zodIssues(issues: readonly z.core.$ZodIssue[]): RawIssue[] {
  const out: RawIssue[] = [];
  for (const iss of issues) {
    const path = iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (iss.code === 'unrecognized_keys') {
      const known = knownKeysAt(path);
      for (const key of iss.keys) {
        const hint = suggestKey(key, known);
        out.push({ path: [...path, key], message: hint === undefined ? 'unknown key' : `unknown key (did you mean ${hint}?)` });
      }
    } else {
      out.push({ path, message: iss.message });
    }
  }
  return out;
}

/** The keys the schema allows for the object at `path`, for typo suggestions. */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let s: z.ZodType | undefined = configSchema;
  for (const seg of path) {
    s = unwrap(s);
    if (s instanceof z.ZodArray && typeof seg === 'number') s = s.element as z.ZodType;
    else if (s instanceof z.ZodObject && typeof seg === 'string') s = (s.shape as Record<string, z.ZodType>)[seg];
    else return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  let cur = s;
  while (cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
  return cur;
}

async function readYamlFile(display: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidConfigError([{ path: '', message: `cannot read config file: ${fsReason(err)}` }], { file: display, cause: err });
  }
  const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    // yaml's own message quotes the offending source line, which may hold a secret: build ours from its code.
    const pos = first.linePos?.[0];
    const where = pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `;
    throw new InvalidConfigError([{ path: '', message: `${where}YAML syntax error: ${describeYamlError(first.code)}` }], { file: display });
  }
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch {
    throw new InvalidConfigError([{ path: '', message: 'YAML error: too many alias expansions' }], { file: display });
  }
}

const YAML_REASONS: Readonly<Record<string, string>> = {
  BAD_INDENT: 'bad indentation',
  DUPLICATE_KEY: 'duplicate key',
  MULTIPLE_DOCS: 'more than one document (---) in the file',
  TAB_AS_INDENT: 'tab used for indentation',
  BLOCK_AS_IMPLICIT_KEY: 'nested mapping in a compact mapping (quote values that contain ": ")',
  MULTILINE_IMPLICIT_KEY: 'implicit key spans several lines',
  MISSING_CHAR: 'missing closing character',
  BAD_ALIAS: 'unknown alias',
  UNEXPECTED_TOKEN: 'unexpected token',
};

function describeYamlError(code: string): string {
  return YAML_REASONS[code] ?? code.toLowerCase().replace(/_/g, ' ');
}

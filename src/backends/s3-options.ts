/**
 * One place that turns a resolved configuration's `backends[]` into S3 backend options and
 * builds the backend: the main thread (inline probes) and every pool worker go through here,
 * so both build the same client with the same credential rule and the same transport
 * (`backends[].client`: `lean`, SigV4 over undici, or `sdk`, @aws-sdk/client-s3).
 */
import { BlockList, isIP } from 'node:net';
import type { ResolvedConfig } from '../config/types.js';
import { LeanS3Backend } from './lean-s3-backend.js';
import { S3Backend, type S3BackendOptions, type S3ClientKind } from './s3-backend.js';
import { credentialProviders } from './s3-credentials.js';
import type { ObjectBackend } from '../types.js';

/** The transport a backend gets when `client` is not set. */
export const DEFAULT_S3_CLIENT: S3ClientKind = 'lean';

/**
 * The S3 backend options of a resolved configuration. Static keys are passed only when both
 * are set; otherwise the client uses its default credential chain (`credential_source:
 * default_chain`; the config checks make static keys required with `static`). Whether proxy
 * variables name these backends is told by {@link warnProxyEnvironmentOnce}, not here: this runs
 * in several places per reader (the main thread's clients, the pool's workers' recipe).
 */
export function s3OptionsFromConfig(config: ResolvedConfig): S3BackendOptions[] {
  const options = config.backends.map((b) => {
    const o: S3BackendOptions = {
      name: b.name,
      endpoint: b.endpoint,
      region: b.region,
      bucket: b.bucket,
      forcePathStyle: b.forcePathStyle,
      maxSockets: b.maxSockets,
      timeoutMs: config.server.backendTimeoutMs,
    };
    if (b.client !== undefined) o.client = b.client;
    if (b.credentialSource === 'static' && b.accessKeyId !== '' && b.secretAccessKey !== '') {
      o.accessKeyId = b.accessKeyId;
      o.secretAccessKey = b.secretAccessKey;
    }
    return o;
  });
  return options;
}

let proxyWarned = false;

/**
 * Tell `warn` (readpath's own warning hook: the reader's logger, so a CLI user sees a `readpath:
 * warn:` line) that proxy variables name some of `backends` but are not used
 * ({@link proxyEnvironmentWarning}) — the first time in the process that they do; every reader
 * opened later in it is built from the same environment, and one warning is enough. Without a
 * hook, a process warning (`READPATH_PROXY_ENV_IGNORED`) says it instead.
 */
export function warnProxyEnvironmentOnce(backends: readonly Pick<S3BackendOptions, 'name' | 'endpoint'>[], warn: ((message: string) => void) | undefined): void {
  if (proxyWarned) return;
  const warning = proxyEnvironmentWarning(backends);
  if (warning === undefined) return;
  proxyWarned = true;
  if (warn !== undefined) warn(warning);
  else process.emitWarning(warning, { code: 'READPATH_PROXY_ENV_IGNORED' });
}

/**
 * What to tell an operator whose environment names an HTTP(S) proxy for some of these backends:
 * neither S3 transport uses one (the AWS SDK for JavaScript's handler does not read the
 * variables, and readpath's lean clients follow it, as s3-orchestrator's own backend transports
 * do), so their requests go straight to the endpoint. Undefined when no backend is concerned:
 * no proxy variable for its scheme (`https_proxy`/`HTTPS_PROXY`, `http_proxy`/`HTTP_PROXY`), a
 * loopback host, or a host `NO_PROXY` exempts (`*`, a host or domain suffix, with an optional
 * port, an IP address or CIDR block).
 */
export function proxyEnvironmentWarning(backends: readonly Pick<S3BackendOptions, 'name' | 'endpoint'>[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const noProxy = (env.no_proxy ?? env.NO_PROXY ?? '').split(',').map((e) => e.trim().toLowerCase()).filter((e) => e !== '');
  const concerned: string[] = [];
  const variables = new Set<string>();
  for (const b of backends) {
    let url: URL;
    try {
      url = new URL(b.endpoint);
    } catch {
      continue;
    }
    const scheme = url.protocol === 'https:' ? 'https' : 'http';
    const variable = env[`${scheme}_proxy`] ? `${scheme}_proxy` : env[`${scheme.toUpperCase()}_PROXY`] ? `${scheme.toUpperCase()}_PROXY` : undefined;
    if (variable === undefined) continue;
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = url.port === '' ? (scheme === 'https' ? '443' : '80') : url.port;
    if (isLoopback(host) || exempt(host, port, noProxy)) continue;
    concerned.push(`${b.name} (${url.host})`);
    variables.add(variable);
  }
  if (concerned.length === 0) return undefined;
  return `${[...variables].join(' and ')} ${variables.size > 1 ? 'are' : 'is'} set, but readpath connects to S3 backends directly, never through a proxy (neither the lean nor the sdk transport reads proxy variables, as s3-orchestrator's backends do not): ${concerned.join(', ')}. Add their hosts to NO_PROXY to say that is intended.`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** Whether a NO_PROXY list exempts `host:port`. */
function exempt(host: string, port: string, entries: readonly string[]): boolean {
  for (const entry of entries) {
    if (entry === '*') return true;
    const cidr = /^([0-9a-f.:]+)\/(\d{1,3})$/.exec(entry);
    if (cidr !== null) {
      const family = isIP(cidr[1] as string);
      if (family === 0 || isIP(host) !== family) continue;
      const list = new BlockList();
      try {
        list.addSubnet(cidr[1] as string, Number(cidr[2]), family === 4 ? 'ipv4' : 'ipv6');
      } catch {
        continue;
      }
      if (list.check(host, family === 4 ? 'ipv4' : 'ipv6')) return true;
      continue;
    }
    // host, .domain, *.domain, [v6], each with an optional :port.
    const m = /^(?:\*\.|\.)?(\[[^\]]+\]|[^:]+|[0-9a-f:]+)(?::(\d+))?$/.exec(entry);
    if (m === null) continue;
    const name = (m[1] as string).replace(/^\[|\]$/g, '');
    if (m[2] !== undefined && m[2] !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/**
 * What {@link preloadS3} needs to know of a backend. Without an `endpoint`, a lean backend is
 * taken to need undici (as one over TLS does).
 */
export type PreloadS3Options = Pick<S3BackendOptions, 'client' | 'accessKeyId' | 'secretAccessKey' | 'credentials'> & { endpoint?: string };

/**
 * Load what S3 backends need before the first is built, so its first call does not wait.
 * Given the backends' options, only their transports (undici only for lean backends over TLS:
 * plain HTTP needs no package; and, for lean backends without keys, the AWS credential
 * providers); without them, both transports.
 */
export async function preloadS3(backends?: readonly PreloadS3Options[]): Promise<void> {
  const list: readonly PreloadS3Options[] = backends ?? [{ client: 'lean', accessKeyId: '', secretAccessKey: '' }, { client: 'sdk' }];
  const loads: Promise<unknown>[] = [];
  const kinds = new Set(list.map((b) => b.client ?? DEFAULT_S3_CLIENT));
  if (kinds.has('sdk')) loads.push(S3Backend.preload());
  if (list.some((b) => (b.client ?? DEFAULT_S3_CLIENT) === 'lean' && !plainHttp(b.endpoint))) loads.push(LeanS3Backend.preload());
  const chain = list.some((b) => (b.client ?? DEFAULT_S3_CLIENT) === 'lean' && b.credentials === undefined && (b.accessKeyId === undefined || b.secretAccessKey === undefined));
  if (chain) loads.push(credentialProviders.load());
  await Promise.all(loads);
}

/** Whether an endpoint is plain HTTP (a malformed one is left for the backend to refuse). */
function plainHttp(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  try {
    return new URL(endpoint).protocol === 'http:';
  } catch {
    return false;
  }
}

/** Build the S3 backend one set of options describes, on the transport its `client` names. */
export function createS3Backend(options: S3BackendOptions): ObjectBackend & { close(): Promise<void> } {
  return (options.client ?? DEFAULT_S3_CLIENT) === 'sdk' ? new S3Backend(options) : new LeanS3Backend(options);
}

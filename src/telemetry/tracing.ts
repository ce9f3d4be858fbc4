/**
 * The tracer for readpath's spans, loaded only once someone registered a global tracer
 * provider. `@opentelemetry/api` is ~50 ms of module loading at start (many small CommonJS
 * files) and a no-op span per read when nothing listens; most runs of the CLI trace nothing.
 * Whether a provider is registered is read from the API's own global (one property lookup per
 * read), so a provider registered after readpath was loaded — or after a ReadPath opened — is
 * still used from its next read on, as with the API's proxy tracer.
 */
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';

/** Where version 1.x of the API keeps its registered globals (`registerGlobal('trace', ...)`). */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

let api: typeof OtelApi | undefined;
let tracer: OtelApi.Tracer | undefined;

/** The API module and readpath's tracer when a global tracer provider is registered; else undefined. */
export function activeTracing(): { api: typeof OtelApi; tracer: OtelApi.Tracer } | undefined {
  const registered = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[API_GLOBAL];
  if (registered?.trace === undefined) return undefined;
  api ??= createRequire(import.meta.url)('@opentelemetry/api') as typeof OtelApi;
  tracer ??= api.trace.getTracer('readpath');
  return { api, tracer };
}

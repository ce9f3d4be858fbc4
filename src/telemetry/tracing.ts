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
import { MASK, maskString } from './logger.js';

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

/**
 * Text bound for a trace exporter — a span's status message, an attribute — masked as logs mask
 * theirs ({@link maskString}: URL passwords, presigned URLs' signatures and session tokens, PEM
 * private keys), then with every value in `secrets` (the configured ones, see `configSecrets`)
 * replaced. Traces leave the process for a collector the reader does not control, and an error's
 * message can quote a connection URL or a credential as logs would.
 */
export function maskSpanText(text: string, secrets: readonly string[] = []): string {
  let out = maskString(text);
  // Very short values would mangle the text (the CLI's scrubber skips them too).
  for (const s of secrets) if (s.length >= 4 && out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** Span attributes with every string value (and string in an array value) passed through {@link maskSpanText}. */
export function maskSpanAttributes(attrs: OtelApi.Attributes, secrets: readonly string[] = []): OtelApi.Attributes {
  const out: OtelApi.Attributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'string') out[k] = maskSpanText(v, secrets);
    else if (Array.isArray(v)) out[k] = v.map((x: unknown) => (typeof x === 'string' ? maskSpanText(x, secrets) : x)) as OtelApi.AttributeValue;
    else out[k] = v;
  }
  return out;
}

/**
 * Mark `span` failed: `s3o.error.code`, and status ERROR with the message masked
 * ({@link maskSpanText}). The exception itself is not recorded: its stack and cause chain would
 * carry what the message had, and the code and the message say what a trace needs.
 */
export function failSpan(api: typeof OtelApi, span: OtelApi.Span, code: string, message: string, secrets: readonly string[] = []): void {
  span.setAttribute('s3o.error.code', code);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: maskSpanText(message, secrets) });
}

/**
 * S3 error answers for the lean transport: the XML error document (`<Error><Code>…`) parsed,
 * tolerantly, only for non-2xx answers, and turned into an error shaped like the AWS SDK's
 * service exceptions (`name`, `Code`, `$metadata.httpStatusCode`), so that {@link mapS3Error}
 * maps both transports' failures the same way.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/** The fields of an S3 error document readpath uses. */
export interface S3ErrorDocument {
  code?: string;
  message?: string;
  requestId?: string;
}

/** Bytes of an error body read at most; the rest is discarded with the connection. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML character data with its entities (named and numeric) replaced. */
export function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

function element(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m?.[1] === undefined ? undefined : unescapeXml(m[1]).trim();
}

/**
 * Parse an S3 error document. Anything else (HTML, garbage, truncated XML, empty) yields an
 * empty result rather than an exception: the status code still makes a coded error.
 */
export function parseS3ErrorXml(text: string): S3ErrorDocument {
  const out: S3ErrorDocument = {};
  if (!text.includes('<Error')) return out;
  const code = element(text, 'Code');
  const message = element(text, 'Message');
  const requestId = element(text, 'RequestId');
  if (code !== undefined && code !== '' && /^[A-Za-z0-9.]+$/.test(code)) out.code = code;
  if (message !== undefined && message !== '') out.message = message;
  if (requestId !== undefined && requestId !== '') out.requestId = requestId;
  return out;
}

/** The names the SDK gives body-less error answers (HEAD, 304), by status. */
const STATUS_NAMES: Record<number, string> = {
  301: 'MovedPermanently',
  302: 'Found',
  304: 'NotModified',
  307: 'TemporaryRedirect',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  412: 'PreconditionFailed',
  416: 'RequestedRangeNotSatisfiable',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

/** A non-2xx S3 answer, shaped like the SDK's `S3ServiceException`. */
export class S3ResponseError extends Error {
  override readonly name: string;
  readonly Code: string | undefined;
  readonly $metadata: { httpStatusCode: number; requestId?: string };

  /** `bodyText`: the error body read, to say when it was not an S3 error document. */
  constructor(status: number, doc: S3ErrorDocument, location?: string, bodyText = '') {
    const name = doc.code ?? STATUS_NAMES[status] ?? 'UnknownError';
    const where = location !== undefined ? ` (Location: ${location})` : '';
    const what = doc.message ?? (doc.code === undefined && bodyText.trim() !== '' ? 'the error body is not an S3 error document' : `HTTP ${status}`);
    super(`${what}${where}`);
    this.name = name;
    this.Code = doc.code;
    this.$metadata = doc.requestId !== undefined ? { httpStatusCode: status, requestId: doc.requestId } : { httpStatusCode: status };
  }
}

/**
 * Read at most {@link MAX_ERROR_BODY_BYTES} of an error body as text. Never rejects: a body
 * that breaks off yields what arrived. The stream is consumed or destroyed either way.
 */
export function readErrorBody(body: Readable): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      body.off('data', onData);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.byteLength;
      if (size >= MAX_ERROR_BODY_BYTES) {
        finish();
        body.destroy();
      }
    };
    body.on('data', onData);
    body.once('end', finish);
    body.once('close', finish);
    body.once('error', finish);
  });
}

/** The Location header of a redirect, for the error message. */
export function locationOf(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): string | undefined {
  const l = headers['location'];
  return Array.isArray(l) ? l[0] : l;
}

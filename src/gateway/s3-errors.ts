/**
 * readpath's error codes as S3 answers: the status and S3 error code a client's SDK acts on
 * (retrying 5xx and SlowDown, treating NoSuchKey as absence, InvalidRange as past the end).
 */
import { ObjectRequestError, PreconditionFailed } from './objects.js';
import { findReadPathError, httpStatusOf, messageOf, type ErrorCode } from '../errors.js';

/** An S3 error to answer. */
export interface S3Error {
  status: number;
  code: string;
  message: string;
  /** Elements of the error document besides Code, Message, Resource and RequestId. */
  extra?: Readonly<Record<string, string>> | undefined;
}

const BY_CODE: Partial<Record<ErrorCode, { status: number; code: string }>> = {
  OBJECT_NOT_FOUND: { status: 404, code: 'NoSuchKey' },
  RANGE_NOT_SATISFIABLE: { status: 416, code: 'InvalidRange' },
  USAGE_LIMIT_EXCEEDED: { status: 503, code: 'SlowDown' },
  EXECUTOR_SATURATED: { status: 503, code: 'SlowDown' },
  DB_UNAVAILABLE: { status: 503, code: 'ServiceUnavailable' },
  SERVICE_UNAVAILABLE: { status: 503, code: 'ServiceUnavailable' },
  EXECUTOR_CLOSED: { status: 503, code: 'ServiceUnavailable' },
  TIMEOUT: { status: 504, code: 'GatewayTimeout' },
  INVALID_KEY: { status: 400, code: 'InvalidArgument' },
  INVALID_CONFIG: { status: 400, code: 'InvalidArgument' },
};

/** The S3 error a failed read answers with. */
export function s3ErrorOf(err: unknown): S3Error {
  if (err instanceof PreconditionFailed) return { status: 412, code: 'PreconditionFailed', message: err.message };
  if (err instanceof ObjectRequestError) return { status: err.status, code: err.code, message: err.message, extra: err.extra };
  const e = findReadPathError(err);
  const mapped = e === undefined ? undefined : BY_CODE[e.code];
  if (mapped !== undefined && e !== undefined) return { ...mapped, message: e.message };
  const status = httpStatusOf(err);
  const code = status === 503 ? 'ServiceUnavailable' : status === 504 ? 'GatewayTimeout' : status >= 500 ? 'BadGateway' : 'InvalidRequest';
  return { status: status >= 400 ? status : 502, code, message: messageOf(err) };
}

import { DatabaseError } from 'pg';

/**
 * Every error the API can answer with, by stable code. Clients match on
 * `error.code`; messages are for humans and may change.
 */
export const ErrorCode = {
  BadRequest: 'bad_request',
  InvalidJson: 'invalid_json',
  ValidationFailed: 'validation_failed',
  UnsupportedMediaType: 'unsupported_media_type',
  PayloadTooLarge: 'payload_too_large',
  HeadersTooLarge: 'headers_too_large',
  RequestTimeout: 'request_timeout',
  ExpectationFailed: 'expectation_failed',
  Unauthorized: 'unauthorized',
  NotFound: 'not_found',
  LinkNotFound: 'link_not_found',
  LinkExpired: 'link_expired',
  SlugTaken: 'slug_taken',
  RateLimited: 'rate_limited',
  ServiceUnavailable: 'service_unavailable',
  Internal: 'internal_error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The largest request body the API reads. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Each code's HTTP status and default message, in one table (as fastify's
 * createError binds them): a call site names the code, never the status.
 */
const ERRORS: Record<ErrorCode, readonly [status: number, message: string]> = {
  bad_request: [400, 'bad request'],
  invalid_json: [400, 'request body is not valid JSON'],
  validation_failed: [400, 'invalid request'],
  unsupported_media_type: [415, 'Content-Type must be application/json'],
  payload_too_large: [413, `request body is larger than ${MAX_BODY_BYTES / 1024} KiB`],
  headers_too_large: [431, 'request line and headers are larger than the server accepts'],
  request_timeout: [408, 'the request was not received in time'],
  expectation_failed: [417, 'only "Expect: 100-continue" is supported'],
  unauthorized: [401, 'a valid bearer token is required'],
  not_found: [404, 'not found'],
  link_not_found: [404, 'no such link'],
  link_expired: [410, 'the link has expired'],
  slug_taken: [409, 'the slug is already taken'],
  rate_limited: [429, 'too many requests'],
  service_unavailable: [503, 'service unavailable, retry later'],
  internal_error: [500, 'internal error'],
};

/** An error with a stable code (its HTTP status from the table); the error middleware renders it as JSON. */
export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code][1],
    readonly details?: readonly { field: string; message: string }[],
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERRORS[code][0];
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: readonly { field: string; message: string }[] };
}

export function errorBody(e: AppError): ErrorBody {
  return { error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } };
}

/**
 * Stops the worker at start-up; printed as its message alone, one line (an
 * operator needs the key and the address, not a stack).
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** body-parser failures, by their `type`, as stable API errors. */
const BODY_ERRORS: Record<string, readonly [ErrorCode, string?]> = {
  'entity.parse.failed': [ErrorCode.InvalidJson],
  'entity.too.large': [ErrorCode.PayloadTooLarge],
  'encoding.unsupported': [ErrorCode.UnsupportedMediaType, 'unsupported Content-Encoding'],
  'charset.unsupported': [ErrorCode.UnsupportedMediaType, 'unsupported charset; use utf-8'],
  'request.aborted': [ErrorCode.BadRequest, 'request aborted'],
  'request.size.invalid': [ErrorCode.BadRequest, 'request size did not match Content-Length'],
};

/** Codes for the other 4xx body-reading failures (http-errors' statuses body-parser uses), else bad_request. */
const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
};

/** A body-parser (or other http-errors) 4xx as the API's error; undefined for anything else. */
export function clientRequestError(err: unknown): AppError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { type, status, expose, message } = err as {
    type?: unknown;
    status?: unknown;
    expose?: boolean;
    message?: string;
  };
  const known = typeof type === 'string' ? BODY_ERRORS[type] : undefined;
  if (known) return new AppError(known[0], known[1]);
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  // e.g. a body that claims gzip but is not: the client's.
  return new AppError(BY_STATUS[status] ?? ErrorCode.BadRequest, expose && message ? message : 'bad request');
}

/** Node's own refusals (before Express sees a request), by error code; anything else is malformed HTTP. */
const NODE_CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: ErrorCode.HeadersTooLarge,
  ERR_HTTP_REQUEST_TIMEOUT: ErrorCode.RequestTimeout,
};

export function nodeClientError(code: string | undefined): AppError {
  const known = NODE_CLIENT_ERRORS[code ?? ''];
  return known ? new AppError(known) : new AppError(ErrorCode.BadRequest, 'malformed HTTP request');
}

/**
 * Errors pg and pg-pool raise themselves (no SQLSTATE) when PostgreSQL is
 * unreachable or hangs; Prisma's adapter passes them through as plain Errors.
 */
const PG_CLIENT_UNAVAILABLE =
  /^(timeout exceeded when trying to connect|Query read timeout|Connection terminated|Client has encountered a connection error)/;

/**
 * What pg raises from the redirect's own statement (links/redirects.ts), where
 * Prisma's adapter would have wrapped it in a DriverAdapterError: a socket that
 * cannot reach the server, or SQLSTATE classes 08 (connection), 53 (resources,
 * e.g. too many connections), 57 (cancelled: the statement timeout; shutting
 * down) and 58 (system error).
 */
const NETWORK_CODES = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ENOTFOUND|EAI_AGAIN)$/;
const UNAVAILABLE_SQLSTATE = /^(08|53|57|58)/;

/** Errors that mean "the database is unreachable or overloaded", not "the query is wrong". */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'PrismaClientInitializationError') return true;
  const code = (err as { code?: unknown }).code;
  return (
    (err.name.startsWith('PrismaClient') &&
      (typeof code !== 'string' || /^P10\d\d$/.test(code) || code === 'P2024' || code === 'P2037')) ||
    err.name === 'DriverAdapterError' ||
    PG_CLIENT_UNAVAILABLE.test(err.message) ||
    (typeof code === 'string' &&
      (NETWORK_CODES.test(code) || (err instanceof DatabaseError && UNAVAILABLE_SQLSTATE.test(code))))
  );
}

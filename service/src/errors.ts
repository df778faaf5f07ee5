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

/** An error with an HTTP status and a stable code; the error middleware renders it as JSON. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: readonly { field: string; message: string }[],
  ) {
    super(message);
    this.name = 'AppError';
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

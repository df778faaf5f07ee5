import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, ErrorCode, errorBody } from './errors';
import type { Lifecycle } from './lifecycle';
import type { Logger } from './logger';
import type { Metrics } from './metrics/registry';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Request id (kept from X-Request-Id when well-formed), sampled access log,
 * and, while draining, `Connection: close` so keep-alive clients reconnect to
 * another worker instead of being reset when this one closes.
 */
export function requestContext(
  log: Logger,
  lifecycle: Lifecycle,
  sampleRate: number,
  metrics: Metrics,
): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    lifecycle.track(res);
    const start = process.hrtime.bigint();
    const sampled = sampleRate > 0 && (sampleRate >= 1 || Math.random() < sampleRate);
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      // Route templates, never raw paths: a label per slug would explode the series count.
      const route = req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      if (sampled) {
        log.info(
          { reqId: id, method: req.method, route, status: res.statusCode, durationMs: seconds * 1000 },
          'request',
        );
      }
    });
    next();
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError(404, ErrorCode.NotFound, `no route for ${req.method} ${req.path.slice(0, 200)}`));
};

/** body-parser failures, by their `type`, as stable API errors. */
const BODY_ERRORS: Record<string, [number, ErrorCode, string]> = {
  'entity.parse.failed': [400, ErrorCode.InvalidJson, 'request body is not valid JSON'],
  'entity.too.large': [413, ErrorCode.PayloadTooLarge, 'request body is larger than 16 KiB'],
  'encoding.unsupported': [415, ErrorCode.UnsupportedMediaType, 'unsupported Content-Encoding'],
  'charset.unsupported': [415, ErrorCode.UnsupportedMediaType, 'unsupported charset; use utf-8'],
  'request.aborted': [400, ErrorCode.BadRequest, 'request aborted'],
  'request.size.invalid': [400, ErrorCode.BadRequest, 'request size did not match Content-Length'],
};

/** Prisma errors that mean "the database is unreachable or overloaded", not "the query is wrong". */
function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'PrismaClientInitializationError') return true;
  const code = (err as { code?: unknown }).code;
  return (
    (err.name.startsWith('PrismaClient') &&
      (typeof code !== 'string' || /^P10\d\d$/.test(code) || code === 'P2024' || code === 'P2037')) ||
    err.name === 'DriverAdapterError'
  );
}

function isClientHttpError(err: unknown): err is { status: number; expose?: boolean; message: string } {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** The one error middleware: JSON bodies, no stack traces outside development. */
export function errorHandler(log: Logger, exposeStacks: boolean): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    let e: AppError;
    if (err instanceof AppError) {
      e = err;
    } else if (
      typeof err === 'object' &&
      err !== null &&
      typeof (err as { type?: unknown }).type === 'string' &&
      BODY_ERRORS[(err as { type: string }).type]
    ) {
      const [status, code, message] = BODY_ERRORS[(err as { type: string }).type]!;
      e = new AppError(status, code, message);
    } else if (isClientHttpError(err)) {
      // Other body-reading failures (e.g. a body that claims gzip but is not) are the client's.
      e = new AppError(err.status, ErrorCode.BadRequest, err.expose ? err.message : 'bad request');
    } else if (isDatabaseUnavailable(err)) {
      log.warn({ err, reqId: res.locals.requestId }, 'database unavailable');
      e = new AppError(503, ErrorCode.ServiceUnavailable, 'database unavailable, retry later');
    } else {
      log.error({ err, reqId: res.locals.requestId }, 'unhandled error');
      e = new AppError(500, ErrorCode.Internal, 'internal error');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    if (e.status === 503) res.setHeader('Retry-After', '1');
    const body = errorBody(e);
    if (exposeStacks && e.status >= 500 && err instanceof Error) (body.error as { stack?: string }).stack = err.stack;
    res.status(e.status).json(body);
  };
}

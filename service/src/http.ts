import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, ErrorCode, errorBody } from './errors';
import type { Lifecycle } from './shutdown';
import type { Logger } from './logger';
import type { Metrics } from './metrics/registry';

/** The largest request body the API reads. */
export const MAX_BODY_BYTES = 16 * 1024;
export const TOO_LARGE = `request body is larger than ${MAX_BODY_BYTES / 1024} KiB`;

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Request id (kept from X-Request-Id when well-formed), the request histogram
 * and the sampled access log; while draining, `Connection: close` so
 * keep-alive clients reconnect to another worker instead of being reset when
 * this one closes (requests in flight when the drain starts get it from
 * Lifecycle.draining). Runs on every request, the redirect's hot path
 * included: one header, one listener, a timestamp, and a histogram child
 * looked up by its labels instead of hashing them.
 */
export function requestContext(
  log: Logger,
  lifecycle: Lifecycle,
  sampleRate: number,
  metrics: Metrics,
): RequestHandler {
  const histogram = metrics.httpDuration;
  const children = new Map<string, ReturnType<typeof histogram.labels>>();
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    if (lifecycle.phase === 'draining') res.setHeader('Connection', 'close');
    const start = performance.now();
    const sampled = sampleRate > 0 && (sampleRate >= 1 || Math.random() < sampleRate);
    res.on('finish', () => {
      const seconds = (performance.now() - start) / 1000;
      // Route templates, never raw paths: a label per slug would explode the series count.
      const route = req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      const key = `${req.method} ${route} ${res.statusCode}`;
      let child = children.get(key);
      if (!child) {
        child = histogram.labels(req.method, route, String(res.statusCode));
        children.set(key, child);
      }
      child.observe(seconds);
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

/**
 * HTTP/1.1 requires a Host header. Node's own check answers with an empty
 * 400, so the server turns it off (requireHostHeader: false) and this one
 * answers with the API's JSON error.
 */
export const requireHost: RequestHandler = (req, _res, next) => {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && !req.headers.host) {
    next(new AppError(400, ErrorCode.BadRequest, 'the Host header is required'));
    return;
  }
  next();
};

/**
 * Until the worker serves (e.g. while the database schema is behind this
 * release) API and redirect requests get a 503 saying why, instead of errors
 * from queries against tables that do not exist yet. A draining worker still
 * answers: its in-flight and last requests finish.
 */
export function refuseUntilServing(lifecycle: Lifecycle): RequestHandler {
  return (_req, _res, next) => {
    if (lifecycle.phase !== 'starting') {
      next();
      return;
    }
    next(new AppError(503, ErrorCode.ServiceUnavailable, lifecycle.reason));
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError(404, ErrorCode.NotFound, `no route for ${req.method} ${req.path.slice(0, 200)}`));
};

/** body-parser failures, by their `type`, as stable API errors. */
const BODY_ERRORS: Record<string, [number, ErrorCode, string]> = {
  'entity.parse.failed': [400, ErrorCode.InvalidJson, 'request body is not valid JSON'],
  'entity.too.large': [413, ErrorCode.PayloadTooLarge, TOO_LARGE],
  'encoding.unsupported': [415, ErrorCode.UnsupportedMediaType, 'unsupported Content-Encoding'],
  'charset.unsupported': [415, ErrorCode.UnsupportedMediaType, 'unsupported charset; use utf-8'],
  'request.aborted': [400, ErrorCode.BadRequest, 'request aborted'],
  'request.size.invalid': [400, ErrorCode.BadRequest, 'request size did not match Content-Length'],
};

/**
 * Errors pg and pg-pool raise themselves (no SQLSTATE) when PostgreSQL is
 * unreachable or hangs; Prisma's adapter passes them through as plain Errors.
 */
const PG_CLIENT_UNAVAILABLE =
  /^(timeout exceeded when trying to connect|Query read timeout|Connection terminated|Client has encountered a connection error)/;

/** Errors that mean "the database is unreachable or overloaded", not "the query is wrong". */
function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'PrismaClientInitializationError') return true;
  const code = (err as { code?: unknown }).code;
  return (
    (err.name.startsWith('PrismaClient') &&
      (typeof code !== 'string' || /^P10\d\d$/.test(code) || code === 'P2024' || code === 'P2037')) ||
    err.name === 'DriverAdapterError' ||
    PG_CLIENT_UNAVAILABLE.test(err.message)
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

/** Node's own refusals (before Express sees a request), by error code. */
const CLIENT_ERRORS: Record<string, [number, ErrorCode, string]> = {
  HPE_HEADER_OVERFLOW: [431, ErrorCode.HeadersTooLarge, 'request line and headers are larger than the server accepts'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, ErrorCode.RequestTimeout, 'the request was not received in time'],
};

/**
 * The server's 'clientError' listener: malformed HTTP, oversized headers and
 * requests slower than REQUEST_TIMEOUT_MS get the API's JSON error (Node's
 * default is a bare status line), then the connection is closed. Nothing is
 * written once a response has started.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !inFlight?.headersSent && err.code !== 'ECONNRESET') {
    const [status, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [
      400,
      ErrorCode.BadRequest,
      'malformed HTTP request',
    ];
    const body = JSON.stringify(errorBody(new AppError(status, code, message)));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * The server's 'checkExpectation' listener: an `Expect` other than
 * `100-continue` gets the API's JSON 417 (Node's default has no body).
 */
export function expectationFailed(_req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify(
    errorBody(new AppError(417, ErrorCode.ExpectationFailed, 'only "Expect: 100-continue" is supported')),
  );
  res
    .writeHead(417, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    })
    .end(body);
}

import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, clientRequestError, ErrorCode, errorBody, isDatabaseUnavailable, nodeClientError } from './errors';
import type { Lifecycle } from './shutdown';
import type { Logger } from './logger';
import type { Metrics } from './metrics/registry';

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
    next(new AppError(ErrorCode.BadRequest, 'the Host header is required'));
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
    next(new AppError(ErrorCode.ServiceUnavailable, lifecycle.reason));
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError(ErrorCode.NotFound, `no route for ${req.method} ${req.path.slice(0, 200)}`));
};

/** The one error middleware: JSON bodies, no stack traces outside development. */
export function errorHandler(log: Logger, exposeStacks: boolean): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    let e: AppError;
    const fromClient = err instanceof AppError ? undefined : clientRequestError(err);
    if (err instanceof AppError) {
      e = err;
    } else if (fromClient) {
      e = fromClient;
    } else if (isDatabaseUnavailable(err)) {
      log.warn({ err, reqId: res.locals.requestId }, 'database unavailable');
      e = new AppError(ErrorCode.ServiceUnavailable, 'database unavailable, retry later');
    } else {
      log.error({ err, reqId: res.locals.requestId }, 'unhandled error');
      e = new AppError(ErrorCode.Internal);
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

/**
 * The server's 'clientError' listener: malformed HTTP, oversized headers and
 * requests slower than REQUEST_TIMEOUT_MS get the API's JSON error (Node's
 * default is a bare status line), then the connection is closed. Nothing is
 * written once a response has started.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !inFlight?.headersSent && err.code !== 'ECONNRESET') {
    const e = nodeClientError(err.code);
    const body = JSON.stringify(errorBody(e));
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
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
  const e = new AppError(ErrorCode.ExpectationFailed);
  const body = JSON.stringify(errorBody(e));
  res
    .writeHead(e.status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    })
    .end(body);
}

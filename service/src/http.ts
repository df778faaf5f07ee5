import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, clientRequestError, ErrorCode, errorBody, isDatabaseUnavailable, nodeClientError } from './errors';
import type { Lifecycle } from './shutdown';
import type { Logger } from './logger';
import type { HistogramObserver } from './metrics/histogram';
import type { Metrics } from './metrics/registry';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** What a request carries from its start to its finish. */
export interface Started {
  readonly id: string;
  readonly startMs: number;
  readonly sampled: boolean;
  /** The headers every answer to it starts with, names and values in turn. */
  readonly headers: readonly string[];
}

/**
 * The request context every response shares, the fast redirect's
 * (links/fast-redirect.ts) and Express's alike: the request id (kept from
 * X-Request-Id when well-formed), `Connection: close` while draining, so
 * keep-alive clients reconnect to another worker instead of being reset when
 * this one closes (requests in flight when the drain starts get it from
 * Lifecycle.draining), then at the finish the request histogram and the
 * sampled access log.
 */
export class RequestContext {
  private readonly begun = new WeakMap<IncomingMessage, Started>();

  constructor(
    private readonly log: Logger,
    private readonly lifecycle: Pick<Lifecycle, 'phase'>,
    private readonly sampleRate: number,
    private readonly histogram: Metrics['httpDuration'],
  ) {}

  /** A request's id, clock and sampling, and the headers every answer to it starts with (in this order). */
  start(req: IncomingMessage): Started {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const rate = this.sampleRate;
    return {
      id,
      startMs: performance.now(),
      sampled: rate > 0 && (rate >= 1 || Math.random() < rate),
      headers: this.lifecycle.phase === 'draining' ? ['X-Request-Id', id, 'Connection', 'close'] : ['X-Request-Id', id],
    };
  }

  /**
   * The fast redirect began `req` (its id, its clock, its headers) and hands it
   * to Express, whose context middleware resumes it instead of starting anew.
   */
  handOver(req: IncomingMessage, started: Started): void {
    this.begun.set(req, started);
  }

  /** The request as the fast redirect began it, or a new start. */
  resume(req: IncomingMessage): Started {
    return this.begun.get(req) ?? this.start(req);
  }

  /** The request histogram's observer for one label set, for a caller that answers with the same labels every time. */
  observer(method: string, route: string, status: number): HistogramObserver {
    return this.histogram.labels(method, route, String(status));
  }

  /**
   * The response has finished: one observation in the request histogram and,
   * when sampled, the access log line. `observer` is the histogram's for
   * these labels, when the caller bound it once.
   */
  finish(
    started: Started,
    method: string,
    route: string,
    status: number,
    observer = this.observer(method, route, status),
  ): void {
    const seconds = (performance.now() - started.startMs) / 1000;
    observer.observe(seconds);
    if (started.sampled) {
      this.log.info({ reqId: started.id, method, route, status, durationMs: seconds * 1000 }, 'request');
    }
  }
}

/** The request context as Express's first middleware. Runs for every request the fast redirect does not answer. */
export function requestContext(context: RequestContext): RequestHandler {
  return (req, res, next) => {
    const started = context.resume(req);
    for (let i = 0; i < started.headers.length; i += 2) res.setHeader(started.headers[i]!, started.headers[i + 1]!);
    res.locals.requestId = started.id;
    res.on('finish', () => {
      // Route templates, never raw paths: a label per slug would explode the series count. A route
      // whose errors the app's error handler answers recorded its template when it started.
      const route =
        (res.locals.route as string | undefined) ?? (req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched');
      context.finish(started, req.method, route, res.statusCode);
    });
    next();
  };
}

/** HTTP/1.1 requires a Host header; HTTP/1.0 does not. */
export const hostMissing = (req: IncomingMessage): boolean =>
  req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && !req.headers.host;

/**
 * Node's own Host check answers with an empty 400, so the server turns it
 * off (requireHostHeader: false) and this one answers with the API's JSON
 * error.
 */
export const requireHost: RequestHandler = (req, _res, next) => {
  if (hostMissing(req)) {
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

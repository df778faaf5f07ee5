import type { ServerResponse } from 'node:http';
import express, { Router, type RequestHandler, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Config } from '../config';
import { AppError, ErrorCode, MAX_BODY_BYTES } from '../errors';
import { requireBearer } from '../auth';
import type { Logger } from '../logger';
import { refuseUntilServing } from '../http';
import { rateLimit } from '../rate-limit';
import type { Lifecycle } from '../shutdown';
import type { Redirects, Resolution } from './redirects';
import { linkNotFound, type LinkService } from './service';
import { createLinkSchema, isLinkSlug } from './validation';

type ApiConfig = Pick<Config, 'API_TOKENS' | 'PUBLIC_BASE_URL' | 'RATE_LIMIT_CREATES' | 'RATE_LIMIT_WINDOW_SECONDS'>;

/**
 * `/api/links`: create, read and delete links. Writes need a bearer token.
 * Creation is rate limited per client before the token is checked, so the
 * limit also slows down token guessing.
 */
export function linksApi(
  links: LinkService,
  config: ApiConfig,
  redis: Redis,
  log: Logger,
  lifecycle: Lifecycle,
): Router {
  const router = Router();
  const serving = refuseUntilServing(lifecycle);
  const auth = requireBearer(config.API_TOKENS);
  const createLimit = rateLimit(
    redis,
    { name: 'create', limit: config.RATE_LIMIT_CREATES, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS },
    log,
  );
  const schema = createLinkSchema(config.PUBLIC_BASE_URL);
  const json = express.json({ limit: MAX_BODY_BYTES, strict: true, type: () => true });

  router.post('/links', labelled, serving, createLimit, auth, requireJson, refuseLargeBody, json, async (req, res) => {
    const parsed = schema.safeParse(req.body);
    if (!parsed.success) {
      const details = parsed.error.issues.map((i) => ({
        field: i.path.length > 0 ? i.path.join('.') : i.code === 'unrecognized_keys' ? i.keys.join(',') : 'body',
        message: i.message,
      }));
      throw new AppError(
        ErrorCode.ValidationFailed,
        `invalid link: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`,
        details,
      );
    }
    res.status(201).json(await links.create(parsed.data));
  });

  router.get('/links/:slug', labelled, serving, async (req, res) => {
    res.json(await links.get(requireSlug(String(req.params.slug))));
  });

  router.delete('/links/:slug', labelled, serving, auth, async (req, res) => {
    await links.delete(requireSlug(String(req.params.slug)));
    res.status(204).end();
  });

  return router;
}

/** The redirect's route template: the request histogram's `route` label. */
export const SLUG_ROUTE = '/:slug';
/** 302 Found: a link may change or be deleted, so browsers must not cache the redirect as permanent. */
export const REDIRECT_STATUS = 302;

/**
 * `GET /:slug` in Express, mounted first so that a redirect walks no other
 * route. It answers what the fast redirect (./fast-redirect.ts) leaves to it:
 * targets Express decodes or normalises, outcomes the fast redirect handed
 * over (no such link, expired, PostgreSQL failing), and every redirect with
 * FAST_REDIRECTS=false; all of them through the same pipeline
 * (./redirects.ts). A hit in the worker's own cache answers synchronously;
 * only a lookup returns a promise (Express 5 forwards its rejection). What the
 * pipeline does not accept goes on down the stack: a reserved or malformed
 * slug (`/ready`, `/health`, …) to its own route or to `notALink`, and every
 * request while the worker is starting to the 503 that says why.
 */
export function redirect(redirects: Redirects): RequestHandler {
  return (req, res, next) => {
    const slug = String(req.params.slug);
    const handed = redirects.takeHandedOver(req);
    if (handed) {
      if ('error' in handed) throw handed.error;
      answer(res, slug, handed.resolution);
      return undefined;
    }
    if (!redirects.accepts(req, slug)) {
      next();
      return undefined;
    }
    const outcome = redirects.resolve(slug);
    if (outcome instanceof Promise) return outcome.then((r) => answer(res, slug, r));
    answer(res, slug, outcome);
    return undefined;
  };
}

/** `GET /:slug` for what `redirect` passed on and no other route took: 404, without touching a cache. */
export const notALink: RequestHandler = (req) => {
  throw linkNotFound(String(req.params.slug));
};

function answer(res: Response, slug: string, r: Resolution): void {
  if (r.kind === 'found') {
    sendRedirect(res, r.location);
    return;
  }
  if (r.kind === 'expired') throw new AppError(ErrorCode.LinkExpired, `link '${slug}' has expired`);
  throw linkNotFound(slug);
}

/**
 * A redirect's answer; the Express route and the fast redirect both send it:
 * `location` (the worker cache's, encoded as Express's `res.location` does)
 * and no body, without Express's response methods (no content negotiation or
 * HTML on the hot path). `first` are the request context's headers when they
 * are not set on `res` yet (the fast redirect): one writeHead then builds the
 * whole header block, as Node builds it from setHeader's, in the same order.
 */
export function sendRedirect(res: ServerResponse, location: string, first: readonly string[] = []): void {
  res.writeHead(REDIRECT_STATUS, [...first, 'Location', location]).end();
}

function requireSlug(slug: string): string {
  if (!isLinkSlug(slug)) throw linkNotFound(slug);
  return slug;
}

/**
 * Records the route's template as the request's `route` label (the request
 * histogram, the access log) when the route starts: its errors are answered by
 * the app's error handler, after Express has reset `req.baseUrl`, and the
 * label must not change with the outcome.
 */
const labelled: RequestHandler = (req, res, next) => {
  res.locals.route = `${req.baseUrl}${req.route!.path as string}`;
  next();
};

const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is('application/json')) {
    next(new AppError(ErrorCode.UnsupportedMediaType));
    return;
  }
  next();
};

/**
 * A body declared larger than MAX_BODY_BYTES is refused before any of it is
 * read, and the connection closed: the body parser would otherwise wait for
 * the whole upload before answering (or until REQUEST_TIMEOUT_MS for a
 * client that never sends it).
 */
const refuseLargeBody: RequestHandler = (req, res, next) => {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    res.setHeader('Connection', 'close');
    next(new AppError(ErrorCode.PayloadTooLarge));
    return;
  }
  next();
};

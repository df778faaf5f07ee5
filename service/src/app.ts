import cors from 'cors';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import type { Database } from './db/client';
import { faultRoutes } from './fault-injection';
import { healthRoutes } from './health/routes';
import type { SizingReport } from './health/sizing-guard';
import { errorHandler, notFound, refuseUntilServing, requestContext, requireHost, type RequestContext } from './http';
import type { Lifecycle } from './shutdown';
import { linksApi, notALink, redirect, SLUG_ROUTE } from './links/routes';
import type { Redirects } from './links/redirects';
import type { LinkService } from './links/service';
import type { Logger } from './logger';
import type { Metrics } from './metrics/registry';

export interface AppDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly redis: Redis;
  readonly links: LinkService;
  readonly redirects: Redirects;
  readonly lifecycle: Lifecycle;
  readonly sizing: SizingReport;
  readonly metrics: Metrics;
  /** Shared with the fast redirect (links/fast-redirect.ts), which answers before this app. */
  readonly requests: RequestContext;
}

/**
 * Builds the Express app; never listens (server.ts does). The redirect route
 * comes right after the request context and carries no helmet/CORS/body
 * parsing: nothing runs on the hot path that a redirect does not need.
 */
export function createApp(deps: AppDeps): Express {
  const { config, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.TRUST_PROXY_HOPS);

  app.use(requestContext(deps.requests));
  app.use(requireHost);
  app.get(SLUG_ROUTE, redirect(deps.redirects));
  app.use(healthRoutes(deps));
  if (config.FAULT_INJECTION) app.use(faultRoutes(deps.lifecycle));
  app.use(
    '/api',
    helmet(),
    cors({ origin: [...config.ALLOWED_ORIGINS], methods: ['GET', 'POST', 'DELETE'], maxAge: 600 }),
    // Each API route refuses requests until the worker serves, so that its 503 carries the route's label.
    linksApi(deps.links, config, deps.redis, log, deps.lifecycle),
  );
  app.use(refuseUntilServing(deps.lifecycle));
  app.get(SLUG_ROUTE, notALink);
  app.use(notFound);
  app.use(errorHandler(log, config.NODE_ENV === 'development'));
  return app;
}

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { RequestContext, Started } from '../http';
import type { Redirects, Resolution } from './redirects';
import { REDIRECT_STATUS, sendRedirect, SLUG_ROUTE } from './routes';

/**
 * The HTTP server's request listener: every redirect the pipeline
 * (./redirects.ts) finds a live link for, from any tier, is answered here,
 * before `app` (Express), whose router costs several times the whole redirect
 * (make bench, docs/benchmarks.md). It takes only origin-form `/<slug>`
 * targets with an optional query (percent-encoding, a trailing or double
 * slash, absolute-form, a fragment: Express decodes and normalises those)
 * that the pipeline accepts, and hands everything else to `app` untouched.
 * What it resolved but does not redirect (no such link, expired, PostgreSQL
 * failing) goes to `app` with the outcome and the request's start, so
 * Express answers it as it answers its own, without a second lookup. The
 * redirect is built by the functions the Express route uses (request
 * context, sendRedirect), so the two cannot drift.
 */
export function fastRedirects(app: RequestListener, redirects: Redirects, context: RequestContext): RequestListener {
  const observers = {
    GET: context.observer('GET', SLUG_ROUTE, REDIRECT_STATUS),
    HEAD: context.observer('HEAD', SLUG_ROUTE, REDIRECT_STATUS),
  };
  const redirect = (req: IncomingMessage, res: ServerResponse, started: Started, location: string) => {
    sendRedirect(res, location, started.headers);
    const method = req.method as 'GET' | 'HEAD';
    const finish = () => context.finish(started, method, SLUG_ROUTE, REDIRECT_STATUS, observers[method]);
    // Flushed to the socket at once (Node's writableFinished: nothing queued behind a pipelined
    // response or in the socket's buffer): 'finish' would only be emitted on the next tick, so the
    // observation is made now, without a listener per request (a tenth of the redirect's CPU, measured).
    if (res.writableFinished) finish();
    else res.once('finish', finish);
  };
  const handOver = (
    req: IncomingMessage,
    res: ServerResponse,
    started: Started,
    outcome: Parameters<Redirects['handOver']>[1],
  ) => {
    context.handOver(req, started);
    redirects.handOver(req, outcome);
    app(req, res);
  };
  const answer = (req: IncomingMessage, res: ServerResponse, started: Started, r: Resolution) => {
    if (r.kind === 'found') redirect(req, res, started, r.location);
    else handOver(req, res, started, { resolution: r });
  };
  return (req, res) => {
    const slug = slugOf(req.url);
    if (slug === undefined || !redirects.accepts(req, slug)) {
      app(req, res);
      return;
    }
    const started = context.start(req);
    const outcome = redirects.resolve(slug);
    if (outcome instanceof Promise) {
      outcome.then(
        (r) => answer(req, res, started, r),
        (error: unknown) => handOver(req, res, started, { error }),
      );
    } else answer(req, res, started, outcome);
  };
}

/**
 * The slug of an origin-form target `/<slug>[?query]`, or undefined. A slug's
 * characters never need decoding, so the raw segment is the one Express's
 * router would decode; a segment with `%`, `/` or `#` fails the pipeline's pattern.
 */
function slugOf(target: string | undefined): string | undefined {
  if (!target?.startsWith('/')) return undefined;
  const query = target.indexOf('?');
  return query === -1 ? target.slice(1) : target.slice(1, query);
}

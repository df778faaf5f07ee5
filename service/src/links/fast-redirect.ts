import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { hostMissing, type RequestContext } from '../http';
import type { Lifecycle } from '../shutdown';
import { isLinkSlug, REDIRECT_STATUS, sendRedirect, SLUG_ROUTE } from './routes';
import type { LinkService } from './service';

/**
 * The HTTP server's request listener: a redirect of a link this worker's
 * cache holds is answered here, before `app` (Express), whose router costs
 * several times the whole redirect (make bench, docs/benchmarks.md). It
 * answers only what it is sure Express would answer the same way and hands
 * everything else to `app` untouched: a method other than GET or HEAD, a
 * target that is not `/<slug>` with an optional query (percent-encoding, a
 * trailing or double slash, absolute-form, a fragment: Express decodes and
 * normalises those), a reserved or malformed slug, a worker that is starting,
 * a missing Host under HTTP/1.1, and every link the worker's cache does not
 * hold live (misses, "no such link", expired). The answer is built by the
 * functions the Express route uses (request context, slug rules,
 * sendRedirect), so the two cannot drift.
 */
export function fastRedirects(
  app: RequestListener,
  links: Pick<LinkService, 'redirectFromLocal'>,
  lifecycle: Pick<Lifecycle, 'phase'>,
  context: RequestContext,
): RequestListener {
  const observers = {
    GET: context.observer('GET', SLUG_ROUTE, REDIRECT_STATUS),
    HEAD: context.observer('HEAD', SLUG_ROUTE, REDIRECT_STATUS),
  };
  const answered = (req: IncomingMessage, res: ServerResponse): boolean => {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const slug = slugOf(req.url);
    if (slug === undefined || lifecycle.phase === 'starting' || hostMissing(req)) return false;
    const location = links.redirectFromLocal(slug);
    if (location === undefined) return false;
    const started = context.start(req);
    sendRedirect(res, location, started.headers);
    const finish = () => context.finish(started, method, SLUG_ROUTE, REDIRECT_STATUS, observers[method]);
    // Flushed to the socket at once (Node's writableFinished: nothing queued behind a pipelined
    // response or in the socket's buffer): 'finish' would only be emitted on the next tick, so the
    // observation is made now, without a listener per request (a tenth of the redirect's CPU, measured).
    if (res.writableFinished) finish();
    else res.once('finish', finish);
    return true;
  };
  return (req, res) => {
    if (!answered(req, res)) app(req, res);
  };
}

/**
 * The slug of an origin-form target `/<slug>[?query]`, or undefined. A slug's
 * characters never need decoding, so the raw segment is the one Express's
 * router would decode; a segment with `%`, `/` or `#` fails the pattern.
 */
function slugOf(target: string | undefined): string | undefined {
  if (!target?.startsWith('/')) return undefined;
  const query = target.indexOf('?');
  const slug = query === -1 ? target.slice(1) : target.slice(1, query);
  return isLinkSlug(slug) ? slug : undefined;
}

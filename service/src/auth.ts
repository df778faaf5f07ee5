import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError, ErrorCode } from './errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token check against API_TOKENS. Tokens are compared as SHA-256
 * digests with timingSafeEqual, and every token is compared, so the time taken
 * says nothing about a token's length or which token nearly matched.
 */
export function requireBearer(tokens: readonly string[]): RequestHandler {
  const known = tokens.map(digest);
  return (req, _res, next) => {
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(req.headers.authorization ?? '');
    let ok = false;
    if (match) {
      const presented = digest(match[1]!);
      for (const k of known) ok = timingSafeEqual(presented, k) || ok;
    }
    if (!ok) {
      next(new AppError(ErrorCode.Unauthorized, 'a valid "Authorization: Bearer <token>" header is required'));
      return;
    }
    next();
  };
}

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Short tokens can be guessed; `openssl rand -hex 32` gives 64 characters. */
export const MIN_TOKEN_LENGTH = 16;
export const SESSION_COOKIE = 'csync_session';
/** The browser forgets the dashboard session after this; rotating SYNC_API_TOKENS ends it at once. */
export const SESSION_MAX_AGE_SECONDS = 12 * 3600;

export class ApiTokenError extends Error {
  override name = 'ApiTokenError';
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** A session cookie is derived from a token, so the cookie jar never holds a token that works as a bearer. */
const sessionFor = (token: string) => createHmac('sha256', token).update('compliance-sync dashboard session').digest('hex');

/** True if `candidate` equals any of `digests`, in time that does not depend on where (or whether) it matches. */
function matchesAny(candidate: string, digests: readonly Buffer[]): boolean {
  const digest = sha256(candidate);
  let found = false;
  for (const known of digests) found = timingSafeEqual(digest, known) || found;
  return found;
}

/**
 * The bearer tokens the server accepts (SYNC_API_TOKENS). Only their SHA-256 digests are kept, and every
 * comparison is between equal-length digests with timingSafeEqual, so response times leak nothing.
 */
export class ApiTokens {
  private readonly tokenDigests: Buffer[];
  private readonly sessionDigests: Buffer[];

  constructor(tokens: readonly string[]) {
    if (tokens.length === 0) {
      throw new ApiTokenError(
        'SYNC_API_TOKENS is not set: give one or more comma-separated bearer tokens, e.g. SYNC_API_TOKENS=$(openssl rand -hex 32)',
      );
    }
    tokens.forEach((token, i) => {
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new ApiTokenError(
          `SYNC_API_TOKENS: token ${i + 1} is shorter than ${MIN_TOKEN_LENGTH} characters; use e.g. $(openssl rand -hex 32)`,
        );
      }
    });
    this.tokenDigests = tokens.map(sha256);
    this.sessionDigests = tokens.map((t) => sha256(sessionFor(t)));
  }

  /** Checks an `Authorization: Bearer <token>` header value. */
  verifyAuthorization(header: string | undefined): boolean {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
    return match !== null && matchesAny(match[1], this.tokenDigests);
  }

  verifySession(cookieValue: string | undefined): boolean {
    return cookieValue !== undefined && cookieValue !== '' && matchesAny(cookieValue, this.sessionDigests);
  }

  /** The session cookie value for a token typed into the login form, or undefined when the token is not accepted. */
  sessionForToken(token: string): string | undefined {
    return matchesAny(token, this.tokenDigests) ? sessionFor(token) : undefined;
  }
}

/**
 * The session cookie's attributes, for @fastify/cookie's setCookie. HttpOnly keeps it from scripts; SameSite=Strict keeps
 * other sites from riding on it (CSRF); Path limits it to the dashboard; Secure when the request came over TLS (directly,
 * or through a proxy SYNC_TRUST_PROXY trusts).
 */
export function sessionCookieOptions(secure: boolean, maxAgeSeconds = SESSION_MAX_AGE_SECONDS): CookieSerializeOptions {
  return { path: '/admin', httpOnly: true, sameSite: 'strict', maxAge: maxAgeSeconds, secure };
}

const unauthorized = (reply: FastifyReply) =>
  reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="compliance-sync"')
    // The body of a refused request is never read: close the socket rather than let a client trickle it.
    .header('connection', 'close')
    .send({
      statusCode: 401,
      error: 'Unauthorized',
      message: 'missing or invalid bearer token (Authorization: Bearer <token from SYNC_API_TOKENS>)',
    });

/** onRequest hook for the API: runs before the body is read, so an unauthenticated request costs no parsing and enqueues nothing. */
export function requireBearer(tokens: ApiTokens) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!tokens.verifyAuthorization(request.headers.authorization)) return unauthorized(reply);
  };
}

/** onRequest hook for the dashboard: a bearer token or the session cookie set by the login form. */
export function requireBearerOrSession(
  tokens: ApiTokens,
  onRefused: (request: FastifyRequest, reply: FastifyReply) => FastifyReply = (_r, reply) => unauthorized(reply),
) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (tokens.verifyAuthorization(request.headers.authorization)) return;
    // request.cookies is filled by @fastify/cookie (registered for the dashboard); a mangled cookie is no cookie.
    if (tokens.verifySession(request.cookies?.[SESSION_COOKIE])) return;
    return onRefused(request, reply);
  };
}

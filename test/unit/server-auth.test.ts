import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiTokenError, ApiTokens, sessionCookieOptions } from '../../src/server/auth.js';

const A = 'token-a-0123456789abcdef';
const B = 'token-b-fedcba9876543210';

describe('ApiTokens', () => {
  it('refuses no tokens and short tokens, naming the position but not the value', () => {
    assert.throws(
      () => new ApiTokens([]),
      (err) => err instanceof ApiTokenError && /SYNC_API_TOKENS is not set/.test(err.message),
    );
    assert.throws(
      () => new ApiTokens([A, 'tiny-secret']),
      (err) => err instanceof ApiTokenError && /token 2 is shorter/.test(err.message) && !err.message.includes('tiny-secret'),
    );
  });

  it('accepts any configured token as a bearer, and nothing else', () => {
    const tokens = new ApiTokens([A, B]);
    assert.equal(tokens.verifyAuthorization(`Bearer ${A}`), true);
    assert.equal(tokens.verifyAuthorization(`bearer ${B}`), true);
    for (const header of [undefined, '', A, `Basic ${A}`, `Bearer ${A}x`, `Bearer ${A.slice(0, -1)}`, `Bearer ${A} ${B}`, 'Bearer ']) {
      assert.equal(tokens.verifyAuthorization(header), false, String(header));
    }
  });

  it('issues a session only for a good token; the session is not the token and is not a bearer', () => {
    const tokens = new ApiTokens([A, B]);
    const session = tokens.sessionForToken(A)!;
    assert.match(session, /^[0-9a-f]{64}$/);
    assert.notEqual(session, A);
    assert.notEqual(tokens.sessionForToken(B), session);
    assert.equal(tokens.sessionForToken('token-c-0000000000000000'), undefined);
    assert.equal(tokens.verifySession(session), true);
    assert.equal(tokens.verifySession(`${session}0`), false);
    assert.equal(tokens.verifySession(''), false);
    assert.equal(tokens.verifyAuthorization(`Bearer ${session}`), false);
    // A rotated token list ends old sessions.
    assert.equal(new ApiTokens([B]).verifySession(session), false);
  });
});

describe('session cookie', () => {
  it('is HttpOnly, SameSite=Strict, limited to /admin, and Secure only when the request came over TLS', () => {
    assert.deepEqual(sessionCookieOptions(false, 60), { path: '/admin', httpOnly: true, sameSite: 'strict', maxAge: 60, secure: false });
    assert.equal(sessionCookieOptions(true).secure, true);
    assert.equal(sessionCookieOptions(true).maxAge, 12 * 3600);
  });
});

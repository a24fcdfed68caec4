import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '@microsoft/microsoft-graph-client';
import { classifyError, classifyStatus, GraphRequestError, parseRetryAfter } from '../../src/graph/errors.js';

describe('parseRetryAfter', () => {
  it('reads whole and fractional seconds as milliseconds', () => {
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter('0'), 0);
    assert.equal(parseRetryAfter('0.1'), 100);
    assert.equal(parseRetryAfter('1.1'), 1100);
    assert.equal(parseRetryAfter('0.25'), 250);
    assert.equal(parseRetryAfter(' 3 '), 3000);
  });

  it('rounds sub-millisecond fractions up, so waiting that long is never too early', () => {
    assert.equal(parseRetryAfter('0.0001'), 1);
    assert.equal(parseRetryAfter('1.0005'), 1001);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    const now = Date.parse('2026-11-20T10:00:00Z');
    assert.equal(parseRetryAfter('Fri, 20 Nov 2026 10:00:07 GMT', now), 7000);
    assert.equal(parseRetryAfter('Fri, 20 Nov 2026 09:59:00 GMT', now), 0);
  });

  it('treats missing or malformed values as absent', () => {
    for (const value of [undefined, null, '', '   ', 'soon', '-1', '1.5.2', '0x10', '1e3', 'Infinity', '12abc']) {
      assert.equal(parseRetryAfter(value), undefined, `value ${JSON.stringify(value)}`);
    }
  });
});

describe('classifyStatus', () => {
  it('sorts statuses into what the job does with them', () => {
    const expected: Record<number, string> = {
      429: 'throttled',
      401: 'unauthorized',
      403: 'forbidden',
      500: 'transient',
      502: 'transient',
      503: 'transient',
      504: 'transient',
      400: 'permanent',
      404: 'permanent',
      409: 'permanent',
      422: 'permanent',
    };
    for (const [status, kind] of Object.entries(expected)) assert.equal(classifyStatus(Number(status)), kind, `status ${status}`);
  });
});

describe('classifyError', () => {
  const graphError = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
    const error = new GraphError(status, message);
    error.code = code;
    error.requestId = 'req-1';
    error.headers = new Headers(headers);
    return error;
  };

  it("keeps Graph's status, code, message and request id", () => {
    const err = classifyError(graphError(404, 'ResourceNotFound', 'The userStatus was not found.'), false);
    assert.equal(err.kind, 'permanent');
    assert.equal(err.status, 404);
    assert.equal(err.code, 'ResourceNotFound');
    assert.equal(err.requestId, 'req-1');
    assert.match(err.message, /^404 ResourceNotFound: The userStatus was not found\.$/);
  });

  it('reads Retry-After of 429 and 503 answers', () => {
    const throttled = classifyError(graphError(429, 'TooManyRequests', 'slow down', { 'Retry-After': '0.3' }), false);
    assert.equal(throttled.kind, 'throttled');
    assert.equal(throttled.retryAfterMs, 300);
    const unavailable = classifyError(graphError(503, 'ServiceUnavailable', 'busy', { 'Retry-After': '2' }), false);
    assert.equal(unavailable.kind, 'transient');
    assert.equal(unavailable.retryAfterMs, 2000);
    assert.equal(classifyError(graphError(429, 'TooManyRequests', 'slow down'), false).retryAfterMs, undefined);
  });

  it("still reads Retry-After and request-id from the raw response when a 429's body is not Graph JSON (no headers on the SDK's error)", () => {
    // What the SDK throws for an HTML body: a bare GraphError with the status and nothing else.
    const bare = new GraphError(429);
    const response = { headers: new Headers({ 'Retry-After': '7', 'request-id': 'req-html' }) };
    const err = classifyError(bare, false, response);
    assert.equal(err.kind, 'throttled');
    assert.equal(err.retryAfterMs, 7000);
    assert.equal(err.requestId, 'req-html');
    // Without a Retry-After anywhere, the caller backs off by itself.
    assert.equal(classifyError(new GraphError(429), false, { headers: new Headers() }).retryAfterMs, undefined);
  });

  it('treats errors without an HTTP status as network failures, and aborted requests as timeouts', () => {
    const reset = classifyError(new GraphError(-1, 'fetch failed'), false);
    assert.equal(reset.kind, 'transient');
    assert.match(reset.message, /network error: fetch failed/);
    const refused = classifyError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), false);
    assert.match(refused.message, /ECONNREFUSED/);
    const timedOut = classifyError(new GraphError(-1, 'This operation was aborted'), true);
    assert.equal(timedOut.kind, 'transient');
    assert.equal(timedOut.message, 'request timed out');
  });

  it('passes classified errors through unchanged', () => {
    const err = new GraphRequestError('forbidden', '403 Forbidden: no', 403);
    assert.equal(classifyError(err, true), err);
  });
});

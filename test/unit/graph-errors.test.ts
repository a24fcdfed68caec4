import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '@microsoft/microsoft-graph-client';
import { classifyError, classifyResponse, classifyStatus, GraphRequestError, parseRetryAfter } from '../../src/graph/errors.js';

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

describe('classifyResponse: what Graph answered', () => {
  const answer = (status: number, code: string | undefined, message: string, headers: Record<string, string> = {}) => {
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const body = code === undefined ? message : JSON.stringify({ error: { code, message } });
    return { status, header: (name: string) => lower[name.toLowerCase()] ?? null, body };
  };

  it("keeps Graph's status, code, message and request id", () => {
    const err = classifyResponse(answer(404, 'ResourceNotFound', 'The userStatus was not found.', { 'request-id': 'req-1' }));
    assert.equal(err.kind, 'permanent');
    assert.equal(err.status, 404);
    assert.equal(err.code, 'ResourceNotFound');
    assert.equal(err.requestId, 'req-1');
    assert.match(err.message, /^404 ResourceNotFound: The userStatus was not found\.$/);
  });

  it('reads Retry-After of 429 and 503 answers', () => {
    const throttled = classifyResponse(answer(429, 'TooManyRequests', 'slow down', { 'Retry-After': '0.3' }));
    assert.equal(throttled.kind, 'throttled');
    assert.equal(throttled.retryAfterMs, 300);
    const unavailable = classifyResponse(answer(503, 'ServiceUnavailable', 'busy', { 'Retry-After': '2' }));
    assert.equal(unavailable.kind, 'transient');
    assert.equal(unavailable.retryAfterMs, 2000);
    assert.equal(classifyResponse(answer(429, 'TooManyRequests', 'slow down')).retryAfterMs, undefined);
  });

  it("still reads Retry-After and request-id from the headers when a 429's body is not Graph JSON", () => {
    const err = classifyResponse(answer(429, undefined, '<html>Too many</html>', { 'Retry-After': '7', 'request-id': 'req-html' }));
    assert.equal(err.kind, 'throttled');
    assert.equal(err.retryAfterMs, 7000);
    assert.equal(err.requestId, 'req-html');
    // Without a Retry-After anywhere, the caller backs off by itself.
    assert.equal(classifyResponse(answer(429, undefined, '')).retryAfterMs, undefined);
  });
});

describe('classifyError: what a request threw before Graph answered', () => {
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

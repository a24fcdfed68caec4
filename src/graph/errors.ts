import { GraphError } from '@microsoft/microsoft-graph-client';

/**
 * What a failed request means for the row:
 * - throttled: the budget is spent; wait Retry-After, never counts as an attempt.
 * - transient: network trouble or a 5xx gateway/service error; retry with back-off.
 * - unauthorized: the token is stale or invalid; refresh once.
 * - forbidden: the app lacks permission; every later row will fail the same way.
 * - permanent: the request itself is wrong (400, 404, 409, 422 ...); retrying cannot help.
 */
export type FailureKind = 'throttled' | 'transient' | 'unauthorized' | 'forbidden' | 'permanent';

export class GraphRequestError extends Error {
  override name = 'GraphRequestError';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly retryAfterMs?: number,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

const TRANSIENT_STATUSES = new Set([500, 502, 503, 504]);

/** Retry-After is seconds (possibly fractional) or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classifyStatus(status: number): FailureKind {
  if (status === 429) return 'throttled';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (TRANSIENT_STATUSES.has(status)) return 'transient';
  return 'permanent';
}

/** Turns anything the Graph client throws into a classified error whose message is safe to store and show. */
export function classifyError(error: unknown, timedOut: boolean): GraphRequestError {
  if (error instanceof GraphRequestError) return error;
  if (timedOut) return new GraphRequestError('transient', 'request timed out');
  if (error instanceof GraphError && error.statusCode > 0) {
    const status = error.statusCode;
    const code = error.code ?? undefined;
    const retryAfterMs = parseRetryAfter(error.headers?.get('Retry-After'));
    const requestId = error.requestId ?? error.headers?.get('request-id') ?? undefined;
    const text = `${status}${code ? ` ${code}` : ''}: ${error.message || 'no message'}`;
    return new GraphRequestError(classifyStatus(status), text, status, code, retryAfterMs, requestId);
  }
  // Anything without an HTTP status is a network failure (reset, refused, DNS, socket closed).
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  return new GraphRequestError('transient', `network error: ${detail}`);
}

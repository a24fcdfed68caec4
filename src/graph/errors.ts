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
  /** The client-request-id we sent with the failed request, when it got that far. */
  clientRequestId?: string;
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

/**
 * Intune puts its own error, serialised as JSON, inside Graph's `message` string
 * (`{"_version": 3, "Message": "No OData route exists ...", "CustomApiErrorPhrase": "", ...}`): the readable part is
 * its `Message`. Any other message is returned as it is.
 */
export function graphMessageOf(message: string): string {
  const text = message.trim();
  if (!text.startsWith('{')) return message;
  try {
    const inner = JSON.parse(text) as Record<string, unknown> | null;
    const readable = inner?.Message ?? inner?.message;
    return typeof readable === 'string' && readable.trim() !== '' ? readable : message;
  } catch {
    return message;
  }
}

const TRANSIENT_STATUSES = new Set([500, 502, 503, 504]);

const SECONDS = /^\d+(?:\.\d+)?$/;
/** HTTP dates name their month ("Wed, 21 Oct 2015 07:28:00 GMT"); this keeps Date.parse from reading "-1" as the year 2001. */
const HTTP_DATE = /[A-Za-z]{3}/;

/** Retry-After is seconds (possibly fractional) or an HTTP date; anything else is treated as absent. Returns ms. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  // The epsilon keeps float noise (1.1 * 1000 = 1100.0000000000002) from adding a millisecond.
  if (SECONDS.test(text)) return Math.max(0, Math.ceil(Number(text) * 1000 - 1e-6));
  if (!HTTP_DATE.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classifyStatus(status: number): FailureKind {
  if (status === 429) return 'throttled';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (TRANSIENT_STATUSES.has(status)) return 'transient';
  return 'permanent';
}

/** Turns what a request threw before Graph answered (a timeout, a network failure) into a classified error. */
export function classifyError(error: unknown, timedOut: boolean): GraphRequestError {
  if (error instanceof GraphRequestError) return error;
  if (timedOut) return new GraphRequestError('transient', 'request timed out');
  // Graph's answers are judged by classifyResponse; anything thrown before one arrived is a network failure
  // (reset, refused, DNS, socket closed).
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  return new GraphRequestError('transient', `network error: ${detail}`);
}

/** What a failed answer says, read from its status, headers and (possibly not JSON) body. */
export interface FailedAnswer {
  status: number;
  /** Header lookup (a fetch Headers' get). */
  header: (name: string) => string | null;
  /** The body as text; HTML, empty or cut short all happen (proxies, gateways, throttling front ends). */
  body: string;
}

/**
 * Turns a non-2xx answer into a classified error. Retry-After and request-id come from the headers whatever the
 * body is, so a 429 whose body is an HTML page still has its Retry-After honoured. A 3xx is never followed: it is
 * a permanent failure naming where it pointed, since following it would send the token (and the write) elsewhere.
 */
export function classifyResponse(answer: FailedAnswer, now = Date.now()): GraphRequestError {
  const { status } = answer;
  if (status >= 300 && status < 400) {
    const location = answer.header('location');
    let where = 'no Location';
    if (location) {
      try {
        where = `Location host ${new URL(location).host}`;
      } catch {
        where = 'a relative Location (the same host)';
      }
    }
    return new GraphRequestError(
      'permanent',
      `${status}: Graph answered with a redirect to ${where}; redirects are never followed`,
      status,
    );
  }
  let code: string | undefined;
  let message: string | undefined;
  let requestId = answer.header('request-id') ?? undefined;
  try {
    const parsed = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown; innerError?: { 'request-id'?: unknown } } };
    const error = parsed?.error;
    if (typeof error?.code === 'string') code = error.code;
    // Intune writes its own error as JSON inside Graph's message string: the reason keeps Intune's message.
    if (typeof error?.message === 'string') message = graphMessageOf(error.message);
    if (requestId === undefined && typeof error?.innerError?.['request-id'] === 'string') requestId = error.innerError['request-id'];
  } catch {
    // Not Graph JSON: say what came instead, without quoting a page of HTML.
    const type = answer.header('content-type')?.split(';')[0]?.trim();
    message = `a body that is not Graph JSON (${type || 'no content type'}, ${Buffer.byteLength(answer.body)} bytes)`;
  }
  const retryAfterMs = parseRetryAfter(answer.header('retry-after'), now);
  const text = `${status}${code ? ` ${code}` : ''}: ${message || 'no message'}`;
  return new GraphRequestError(classifyStatus(status), text, status, code, retryAfterMs, requestId);
}

/**
 * The most any Retry-After is waited (SYNC_MAX_RETRY_AFTER): a longer one, or a date far away, is cut to it, so a
 * wrong or hostile header cannot park the fleet for days, nor overflow a timer (Node's setTimeout takes at most 2^31-1 ms).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function capRetryAfter(retryAfterMs: number | undefined, maxRetryAfterMs: number): number | undefined {
  if (retryAfterMs === undefined) return undefined;
  return Math.min(retryAfterMs, maxRetryAfterMs, MAX_TIMER_MS);
}

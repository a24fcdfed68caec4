import { randomUUID } from 'node:crypto';
import { Client, HTTPMessageHandler, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import type { SyncConfig } from '../config.js';
import { listPath, patchBody, patchPath } from '../domain/payload.js';
import type { ConfigurationType, UserStatusRecord } from '../interfaces.js';
import type { TokenSource } from './auth.js';
import { GraphRequestError, classifyError } from './errors.js';
import { assertRequestPath, PATCH_PATH_SHAPES } from './request-path.js';

export interface PatchResult {
  status: number;
  body: unknown;
  requestId?: string;
  /** The client-request-id we sent, so support cases can name the request from our side too. */
  clientRequestId?: string;
}

/** One page of a configuration's user statuses. */
export interface UserStatusPage {
  items: Record<string, unknown>[];
  requestId?: string;
  clientRequestId?: string;
}

export interface ListOptions {
  /** Properties to ask for (`$select`); Graph answers only these, so name `id` too. */
  select?: readonly string[];
  /** Page size to ask for (`$top`); Graph may return fewer per page. */
  top?: number;
  /**
   * Wraps every page request (the first and each nextLink): the read budget and its retry decisions go here,
   * so the client itself needs no Redis. Default: send at once, and throw on any failure.
   */
  pace?: <T>(request: (forceTokenRefresh: boolean) => Promise<T>) => Promise<T>;
}

/** A nextLink this client refuses to follow (another host, another path): following it could leak the token. */
export class UnexpectedNextLinkError extends Error {
  override name = 'UnexpectedNextLinkError';
}

/**
 * Sets the bearer token on every request. The SDK's own AuthenticationHandler silently drops the header
 * for http:// URLs and hosts it does not recognise (proxies, sovereign gateways, the simulator).
 */
class BearerTokenMiddleware implements Middleware {
  private nextMiddleware?: Middleware;
  constructor(private readonly tokens: TokenSource) {}
  async execute(context: Context): Promise<void> {
    const forceRefresh = (context.options as { forceTokenRefresh?: boolean } | undefined)?.forceTokenRefresh === true;
    const token = await this.tokens.getToken(forceRefresh);
    const options = (context.options ??= {});
    options.headers = { ...(options.headers as Record<string, string>), Authorization: `Bearer ${token}` };
    await this.nextMiddleware!.execute(context);
  }
  setNext(next: Middleware): void {
    this.nextMiddleware = next;
  }
}

/**
 * Every request carries a fresh `client-request-id` (Graph echoes it, and support cases can be traced by it)
 * and asks for JSON. The id is handed back through the `onClientRequestId` option so it can be stored with the row.
 */
class RequestIdsMiddleware implements Middleware {
  private nextMiddleware?: Middleware;
  async execute(context: Context): Promise<void> {
    const clientRequestId = randomUUID();
    const options = (context.options ??= {});
    options.headers = { ...(options.headers as Record<string, string>), 'client-request-id': clientRequestId, Accept: 'application/json' };
    (options as { onClientRequestId?: (id: string) => void }).onClientRequestId?.(clientRequestId);
    await this.nextMiddleware!.execute(context);
  }
  setNext(next: Middleware): void {
    this.nextMiddleware = next;
  }
}

/** Keeps the raw response so that the `request-id` header of a 200 can be stored with the row. */
class ResponseHeadersMiddleware implements Middleware {
  private nextMiddleware?: Middleware;
  async execute(context: Context): Promise<void> {
    await this.nextMiddleware!.execute(context);
    const sink = (context.options as { onResponse?: (r: Response) => void } | undefined)?.onResponse;
    if (sink && context.response) sink(context.response);
  }
  setNext(next: Middleware): void {
    this.nextMiddleware = next;
  }
}

/**
 * Writes one user status with the Graph SDK. No RetryHandler in the chain: its fixed three retries
 * would both lose rows and spend budget behind the fleet's back; the job decides when to retry.
 */
export class UserStatusWriter {
  private readonly client: Client;
  constructor(
    private readonly config: Pick<SyncConfig, 'graphBaseUrl' | 'apiVersion' | 'requestTimeoutMs'>,
    tokens: TokenSource,
  ) {
    const auth = new BearerTokenMiddleware(tokens);
    const ids = new RequestIdsMiddleware();
    const headers = new ResponseHeadersMiddleware();
    auth.setNext(ids);
    ids.setNext(headers);
    headers.setNext(new HTTPMessageHandler());
    this.client = Client.initWithMiddleware({ middleware: auth, baseUrl: `${config.graphBaseUrl}/`, defaultVersion: config.apiVersion });
  }

  /** Throws a classified GraphRequestError for anything but a 2xx. */
  async patch(record: UserStatusRecord, options: { forceTokenRefresh?: boolean } = {}): Promise<PatchResult> {
    let path: string;
    try {
      path = assertRequestPath(patchPath(record), PATCH_PATH_SHAPES);
    } catch (err) {
      // Nothing was sent, and sending again would not help: the row fails at once with the reason.
      throw new GraphRequestError('permanent', (err as Error).message);
    }
    const signal = AbortSignal.timeout(this.config.requestTimeoutMs);
    let response: Response | undefined;
    let clientRequestId: string | undefined;
    try {
      const body: unknown = await this.client
        .api(path)
        .version(this.config.apiVersion)
        .option('signal', signal)
        .option('forceTokenRefresh', options.forceTokenRefresh === true)
        .option('onClientRequestId', (id: string) => (clientRequestId = id))
        .option('onResponse', (r: Response) => (response = r))
        .patch(patchBody(record));
      // 204 No Content is as much a success as 200 with the object; the body is then empty.
      return { status: response?.status ?? 200, body: body ?? undefined, requestId: response?.headers.get('request-id') ?? undefined, clientRequestId };
    } catch (error) {
      throw withClientRequestId(classifyError(error, signal.aborted, response), clientRequestId);
    }
  }

  /**
   * Lists one configuration's user statuses, a page at a time, following `@odata.nextLink` to the end.
   * A nextLink is only followed when it points at the same host and the same list path (only its query may
   * differ); anything else throws UnexpectedNextLinkError rather than sending the token elsewhere.
   * Each page request throws a classified GraphRequestError on failure (through `options.pace`, which may retry).
   */
  async *listUserStatuses(configurationType: ConfigurationType, configurationId: string, options: ListOptions = {}): AsyncGenerator<UserStatusPage> {
    const path = listPath({ configurationType, configurationId });
    const query = new URLSearchParams();
    if (options.select && options.select.length > 0) query.set('$select', options.select.join(','));
    if (options.top !== undefined) query.set('$top', String(options.top));
    let search = query.size > 0 ? `?${query.toString()}` : '';
    const pace = options.pace ?? ((request) => request(false));
    for (;;) {
      const page = await pace((forceTokenRefresh) => this.getPage(`${path}${search}`, forceTokenRefresh));
      yield { items: page.items, requestId: page.requestId, clientRequestId: page.clientRequestId };
      if (page.nextLink === undefined) return;
      search = this.nextLinkQuery(page.nextLink, path);
    }
  }

  private async getPage(pathAndQuery: string, forceTokenRefresh: boolean): Promise<UserStatusPage & { nextLink?: string }> {
    const signal = AbortSignal.timeout(this.config.requestTimeoutMs);
    let response: Response | undefined;
    let clientRequestId: string | undefined;
    try {
      const body = (await this.client
        .api(pathAndQuery)
        .version(this.config.apiVersion)
        .option('signal', signal)
        .option('forceTokenRefresh', forceTokenRefresh)
        .option('onClientRequestId', (id: string) => (clientRequestId = id))
        .option('onResponse', (r: Response) => (response = r))
        .get()) as { value?: unknown; '@odata.nextLink'?: unknown } | undefined;
      if (!body || !Array.isArray(body.value)) {
        throw new GraphRequestError('transient', `list answered ${response?.status ?? '?'} without a "value" array`, response?.status);
      }
      const nextLink = body['@odata.nextLink'];
      if (nextLink !== undefined && typeof nextLink !== 'string') throw new UnexpectedNextLinkError('@odata.nextLink is not a string');
      return { items: body.value as Record<string, unknown>[], nextLink, requestId: response?.headers.get('request-id') ?? undefined, clientRequestId };
    } catch (error) {
      if (error instanceof UnexpectedNextLinkError) throw error;
      throw withClientRequestId(classifyError(error, signal.aborted, response), clientRequestId);
    }
  }

  /** The query of a nextLink that stays on our Graph host and list path; throws for any other link. */
  private nextLinkQuery(nextLink: string, path: string): string {
    let url: URL;
    try {
      url = new URL(nextLink);
    } catch {
      throw new UnexpectedNextLinkError('@odata.nextLink is not an absolute URL');
    }
    const base = new URL(`${this.config.graphBaseUrl}/`);
    const expectedPath = `${base.pathname}${this.config.apiVersion}${path}`;
    const samePath = safeDecode(url.pathname) !== undefined && safeDecode(url.pathname) === safeDecode(expectedPath);
    if (url.origin !== base.origin || !samePath || url.username !== '' || url.password !== '') {
      throw new UnexpectedNextLinkError(`refusing to follow @odata.nextLink to ${url.origin}${url.pathname}: not ${base.origin}${expectedPath}`);
    }
    return url.search;
  }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function withClientRequestId(error: GraphRequestError, clientRequestId: string | undefined): GraphRequestError {
  if (clientRequestId !== undefined && error.clientRequestId === undefined) error.clientRequestId = clientRequestId;
  return error;
}

export { GraphRequestError };

import { randomUUID } from 'node:crypto';
import { HTTPMessageHandler, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import { GRAPH_CLOUDS, type GraphCloud } from '../clouds.js';
import type { SyncConfig } from '../config.js';
import { patchBody, patchPath } from '../domain/payload.js';
import { CONFIGURATION_TYPES, type ConfigurationType, type UserStatusRecord } from '../interfaces.js';
import type { TokenSource } from './auth.js';
import { GraphRequestError, classifyError, classifyResponse } from './errors.js';
import { decideNextLink, listingUrl, type ListingBounds, type NextLinkListing } from './next-link.js';
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
  /** How far a listing may go before it is taken for one that never ends (DEFAULT_LISTING_BOUNDS otherwise). */
  bounds?: ListingBounds;
}

const COLLECTION_OF: Record<ConfigurationType, string> = {
  mobileAppConfiguration: 'mobileAppConfigurations',
  iosLobAppProvisioningConfiguration: 'iosLobAppProvisioningConfigurations',
};

/** A nextLink this client refuses to follow (another host, another path): following it could leak the token. */
export class UnexpectedNextLinkError extends Error {
  override name = 'UnexpectedNextLinkError';
}

/**
 * A listing that cannot be trusted to be whole: a null item or one without a string id, a page too big or with more
 * items than `$top`, a nextLink that loops or a listing that never ends. Reading on cannot help, so it is not retried.
 */
export class BadListingError extends Error {
  override name = 'BadListingError';
}

/** Largest answer body read (a page of 1,000 statuses is well under 1 MiB); a bigger one fails rather than exhausting memory. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

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

/**
 * Writes and reads user statuses through the Graph SDK's middleware chain (our bearer token and request ids, then the
 * SDK's fetch), on URLs this class builds itself: the SDK's `Client.api()` reads a path holding `://` anywhere (a
 * nextLink's query) as a full URL, and once sent the token to the host `beta`. No RetryHandler in the chain: its
 * fixed three retries would both lose rows and spend budget behind the fleet's back; the job decides when to retry.
 * No redirect is followed (`redirect: 'manual'`): a 3xx is a failure naming where it pointed.
 */
export class UserStatusWriter {
  private readonly chain: Middleware;
  private readonly cloudGraphHost: string;
  constructor(
    private readonly config: Pick<SyncConfig, 'graphBaseUrl' | 'apiVersion' | 'requestTimeoutMs'> & { cloud?: GraphCloud },
    tokens: TokenSource,
  ) {
    const auth = new BearerTokenMiddleware(tokens);
    const ids = new RequestIdsMiddleware();
    auth.setNext(ids);
    ids.setNext(new HTTPMessageHandler());
    this.chain = auth;
    this.cloudGraphHost = GRAPH_CLOUDS[config.cloud ?? 'global'].graphHost;
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
    const answer = await this.send(
      'PATCH',
      `${this.config.graphBaseUrl}/${this.config.apiVersion}${path}`,
      options.forceTokenRefresh === true,
      JSON.stringify(patchBody(record)),
    );
    // 204 No Content is as much a success as 200 with the object; the body is then empty.
    return { status: answer.status, body: parseJson(answer.body), requestId: answer.requestId, clientRequestId: answer.clientRequestId };
  }

  /**
   * Reads one user status (GET of the path a PATCH writes), or only the properties `select` names (Graph adds the id).
   * Resolves undefined on 404: Graph holds no such status (or no such configuration). Throws a classified
   * GraphRequestError for any other failure.
   */
  async getUserStatus(
    configurationType: string,
    configurationId: string,
    userStatusId: string,
    select?: readonly string[],
    options: { forceTokenRefresh?: boolean } = {},
  ): Promise<Record<string, unknown> | undefined> {
    if (!(CONFIGURATION_TYPES as readonly string[]).includes(configurationType)) {
      throw new GraphRequestError(
        'permanent',
        `unknown configuration type ${JSON.stringify(configurationType)}: expected ${CONFIGURATION_TYPES.join(' or ')}`,
      );
    }
    let path: string;
    try {
      path = assertRequestPath(
        patchPath({ configurationType: configurationType as ConfigurationType, configurationId, userStatusId }),
        PATCH_PATH_SHAPES,
      );
    } catch (err) {
      throw new GraphRequestError('permanent', (err as Error).message);
    }
    const query = select && select.length > 0 ? `?${new URLSearchParams({ $select: select.join(',') }).toString()}` : '';
    let answer: Awaited<ReturnType<UserStatusWriter['send']>>;
    try {
      answer = await this.send(
        'GET',
        `${this.config.graphBaseUrl}/${this.config.apiVersion}${path}${query}`,
        options.forceTokenRefresh === true,
      );
    } catch (error) {
      if (error instanceof GraphRequestError && error.status === 404) return undefined;
      throw error;
    }
    const body = parseJson(answer.body);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw withClientRequestId(
        new GraphRequestError('transient', 'GET of a user status answered without a JSON object', answer.status),
        answer.clientRequestId,
      );
    }
    return body as Record<string, unknown>;
  }

  /**
   * Lists one configuration's user statuses, a page at a time, following `@odata.nextLink` to the end.
   * Where a nextLink may lead is decided by decideNextLink (next-link.ts): this listing only, on the cloud's Graph
   * host or GRAPH_BASE_URL's, always sent to GRAPH_BASE_URL; anything else throws UnexpectedNextLinkError rather than
   * sending the token elsewhere. A page that cannot be trusted (see BadListingError) throws. Each page request throws a
   * classified GraphRequestError on failure (through `options.pace`, which may retry).
   */
  async *listUserStatuses(
    configurationType: ConfigurationType,
    configurationId: string,
    options: ListOptions = {},
  ): AsyncGenerator<UserStatusPage> {
    const listing: NextLinkListing = {
      cloudGraphHost: this.cloudGraphHost,
      baseUrl: this.config.graphBaseUrl,
      apiVersion: this.config.apiVersion,
      collection: COLLECTION_OF[configurationType],
      configurationId,
    };
    const query = new URLSearchParams();
    if (options.select && options.select.length > 0) query.set('$select', options.select.join(','));
    if (options.top !== undefined) query.set('$top', String(options.top));
    let url = listingUrl(listing, query.size > 0 ? `?${query.toString()}` : '');
    const pace = options.pace ?? ((request) => request(false));
    const requested = new Set<string>();
    let pages = 0;
    let items = 0;
    for (;;) {
      requested.add(url);
      const pageUrl = url;
      const page = await pace((forceTokenRefresh) => this.getPage(pageUrl, forceTokenRefresh));
      pages++;
      const where = `${listing.collection}/${configurationId}, page ${pages}`;
      const problem = pageProblem(page.items, options.top);
      if (problem !== undefined) throw new BadListingError(`Graph's listing of ${where}: ${problem}`);
      items += page.items.length;
      yield { items: page.items as Record<string, unknown>[], requestId: page.requestId, clientRequestId: page.clientRequestId };
      if (page.nextLink === undefined || page.nextLink === null) return;
      const next = decideNextLink(page.nextLink, listing, { requested, pages, items }, options.bounds);
      if (next.action === 'refuse') throw new UnexpectedNextLinkError(next.reason);
      if (next.action === 'stop') throw new BadListingError(next.reason);
      url = next.url;
    }
  }

  private async getPage(
    url: string,
    forceTokenRefresh: boolean,
  ): Promise<{ items: unknown[]; nextLink?: unknown; requestId?: string; clientRequestId?: string }> {
    const answer = await this.send('GET', url, forceTokenRefresh);
    const body = parseJson(answer.body) as { value?: unknown; '@odata.nextLink'?: unknown } | undefined;
    if (!body || typeof body !== 'object' || !Array.isArray(body.value)) {
      throw new GraphRequestError('transient', `list answered ${answer.status} without a "value" array`, answer.status);
    }
    return {
      items: body.value as unknown[],
      nextLink: body['@odata.nextLink'],
      requestId: answer.requestId,
      clientRequestId: answer.clientRequestId,
    };
  }

  /** One request through the middleware chain; the answer's body is read whole (up to MAX_RESPONSE_BYTES) before it is judged. */
  private async send(
    method: 'GET' | 'PATCH',
    url: string,
    forceTokenRefresh: boolean,
    body?: string,
  ): Promise<{ status: number; body: string; requestId?: string; clientRequestId?: string }> {
    const signal = AbortSignal.timeout(this.config.requestTimeoutMs);
    let clientRequestId: string | undefined;
    const options = {
      method,
      signal,
      redirect: 'manual' as const,
      headers: body !== undefined ? { 'Content-Type': 'application/json' } : {},
      ...(body !== undefined ? { body } : {}),
      forceTokenRefresh,
      onClientRequestId: (id: string) => (clientRequestId = id),
    };
    const context: Context = { request: url, options: options as Context['options'] };
    let text: string;
    let response: Response;
    try {
      await this.chain.execute(context);
      response = context.response!;
      text = await readBounded(response, MAX_RESPONSE_BYTES);
    } catch (error) {
      throw withClientRequestId(classifyError(error, signal.aborted), clientRequestId);
    }
    if (response.status < 200 || response.status >= 300) {
      throw withClientRequestId(
        classifyResponse({ status: response.status, header: (n) => response.headers.get(n), body: text }),
        clientRequestId,
      );
    }
    return { status: response.status, body: text, requestId: response.headers.get('request-id') ?? undefined, clientRequestId };
  }
}

/** What is wrong with a page's items, if anything: nothing is dropped silently, and no page holds more than `$top` asked. */
export function pageProblem(items: readonly unknown[], top: number | undefined): string | undefined {
  if (top !== undefined && items.length > top) return `holds ${items.length} items, more than the ${top} asked for ($top)`;
  const bad = items.findIndex(
    (item) =>
      item === null ||
      typeof item !== 'object' ||
      Array.isArray(item) ||
      typeof (item as { id?: unknown }).id !== 'string' ||
      (item as { id: string }).id === '',
  );
  if (bad === -1) return undefined;
  const item = items[bad];
  return item === null ? `item ${bad + 1} is null` : `item ${bad + 1} has no string id`;
}

/** The body as text, refusing (before reading it all) one longer than `limit` bytes. */
async function readBounded(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  const tooBig = (size: string) =>
    new GraphRequestError(
      'permanent',
      `answer ${response.status} is ${size}, over the ${limit / 1024 / 1024} MiB that is read of one answer`,
      response.status,
    );
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooBig(`${declared} bytes`);
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) {
      await response.body.cancel().catch(() => undefined);
      throw tooBig(`more than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new GraphRequestError('transient', `Graph answered 2xx with a body that is not JSON (${Buffer.byteLength(text)} bytes)`);
  }
}

function withClientRequestId(error: GraphRequestError, clientRequestId: string | undefined): GraphRequestError {
  if (clientRequestId !== undefined && error.clientRequestId === undefined) error.clientRequestId = clientRequestId;
  return error;
}

export { GraphRequestError };

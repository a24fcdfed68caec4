import { Client, HTTPMessageHandler, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import type { SyncConfig } from '../config.js';
import { patchBody, patchPath } from '../domain/payload.js';
import type { UserStatusRecord } from '../interfaces.js';
import type { TokenSource } from './auth.js';
import { GraphRequestError, classifyError } from './errors.js';
import { assertRequestPath, PATCH_PATH_SHAPES } from './request-path.js';

export interface PatchResult {
  status: number;
  body: unknown;
  requestId?: string;
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
    const headers = new ResponseHeadersMiddleware();
    auth.setNext(headers);
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
    try {
      const body: unknown = await this.client
        .api(path)
        .version(this.config.apiVersion)
        .option('signal', signal)
        .option('forceTokenRefresh', options.forceTokenRefresh === true)
        .option('onResponse', (r: Response) => (response = r))
        .patch(patchBody(record));
      return { status: response?.status ?? 200, body, requestId: response?.headers.get('request-id') ?? undefined };
    } catch (error) {
      throw classifyError(error, signal.aborted);
    }
  }
}

export { GraphRequestError };

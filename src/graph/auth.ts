import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { SyncConfig, TenantConfig } from '../config.js';
import { graphScopeFor, isCloudAuthority } from '../clouds.js';
import { DEFAULT_RENEWAL, nextTokenStep, type HeldToken, type RenewalPolicy } from './token-renewal.js';
import { OperatorError } from '../errors.js';

/** Where bearer tokens come from. `forceRefresh` is used once after a 401, when the cached token is known to be stale. */
export interface TokenSource {
  getToken(forceRefresh?: boolean): Promise<string>;
  readonly description: string;
  /** For credentials that request tokens: the Graph scope and the Entra authority used, both from GRAPH_CLOUD. */
  readonly scope?: string;
  readonly authorityHost?: string;
}

export class MissingCredentialsError extends OperatorError {
  override name = 'MissingCredentialsError';
}

/**
 * A ready token from GRAPH_ACCESS_TOKEN (or a tenant's accessToken); a refresh re-reads the environment variable it
 * came from, so an operator can rotate it.
 */
class StaticTokenSource implements TokenSource {
  constructor(
    private token: string,
    private readonly envName: string | undefined = 'GRAPH_ACCESS_TOKEN',
    readonly description = 'GRAPH_ACCESS_TOKEN',
  ) {}
  async getToken(forceRefresh = false): Promise<string> {
    const fresh = this.envName ? process.env[this.envName] : undefined;
    if (forceRefresh && fresh) this.token = fresh;
    return this.token;
  }
}

/** What the credential classes of @azure/identity take besides their secrets: for tests, an HTTP client or a CA. */
export type CredentialOptions = import('@azure/identity').ClientSecretCredentialOptions &
  import('@azure/identity').ClientCertificateCredentialOptions;

export interface TokenSourceOptions {
  /** The clock of renewal decisions (Date.now otherwise). */
  now?: () => number;
  /** For tests: merged over the credential's options (authorityHost and disableInstanceDiscovery come from the config). */
  credentialOptions?: CredentialOptions;
  renewal?: RenewalPolicy;
}

/**
 * A token from an @azure/identity credential for the scope and authority of the configured cloud. The token is cached
 * here, per process and tenant, and renewed as nextTokenStep decides: 5 min before expiry, one fetch in flight that
 * every caller shares, and a forced refresh after 401s answered by one fetch. Each fetch uses a new credential, so
 * MSAL's own cache never hands back the token this source has decided to replace; except for a managed identity, whose
 * MSAL cache is one per process: it hands back its token until 5 min before expiry (when this source renews too), so
 * a forced refresh gets the same token, as the identity endpoint itself, which caches tokens, would answer.
 * The library is loaded at the first token, not at start-up: it is the heaviest import of a worker (about half a
 * second), and GRAPH_ACCESS_TOKEN needs none of it.
 */
class IdentityTokenSource implements TokenSource {
  private held?: HeldToken;
  private inFlight?: Promise<HeldToken>;
  /** A caller after a 401 waits for the fetch in flight: its token then answers the other 401s of that moment too. */
  private inFlightAnswers401 = false;
  constructor(
    private readonly makeCredential: (identity: typeof import('@azure/identity')) => TokenCredential,
    readonly scope: string,
    readonly authorityHost: string,
    readonly description: string,
    private readonly now: () => number,
    private readonly renewal: RenewalPolicy,
  ) {}
  async getToken(forceRefresh = false): Promise<string> {
    const step = nextTokenStep({ held: this.held, fetching: this.inFlight !== undefined, forceRefresh, nowMs: this.now() }, this.renewal);
    if (step === 'use') return this.held!.token;
    if (step === 'fetch') {
      this.inFlightAnswers401 = false;
      this.inFlight = this.fetch().finally(() => (this.inFlight = undefined));
    }
    if (forceRefresh) this.inFlightAnswers401 = true;
    return (await this.inFlight!).token;
  }
  private async fetch(): Promise<HeldToken> {
    const obtainedAtMs = this.now();
    const credential = this.makeCredential(await import('@azure/identity'));
    const token = await credential.getToken(this.scope);
    if (!token) throw new MissingCredentialsError(`${this.description} returned no token for ${this.scope}`);
    this.held = {
      token: token.token,
      obtainedAtMs,
      expiresAtMs: token.expiresOnTimestamp,
      forced: this.inFlightAnswers401,
      ...(token.refreshAfterTimestamp !== undefined ? { refreshAfterMs: token.refreshAfterTimestamp } : {}),
    };
    return this.held;
  }
}

/**
 * Every part of a process that needs a token for one app, tenant, authority and scope (the worker's writes, a
 * scheduled `--reconcile`, the verify after a run) shares one source, so the process makes one token request per
 * token lifetime. Sources built with TokenSourceOptions (tests) are their own.
 */
const sharedSources = new Map<string, TokenSource>();

function shared(key: string, options: TokenSourceOptions, make: () => TokenSource): TokenSource {
  if (Object.keys(options).length > 0) return make();
  let source = sharedSources.get(key);
  if (!source) sharedSources.set(key, (source = make()));
  return source;
}

/**
 * The token source of the default tenant (a SyncConfig) or of a tenant of SYNC_TENANTS_FILE (a TenantConfig, which has
 * tenantId): each tenant has its own, so its cache and its 401 refresh are its own. With AZURE_* credentials, every
 * call for the same app, tenant and cloud in a process returns the same source (see `shared`).
 */
export function createTokenSource(
  config: Pick<SyncConfig, 'credentials' | 'cloud' | 'authorityHost'> | TenantConfig,
  options: TokenSourceOptions = {},
): TokenSource {
  const scope = graphScopeFor(config.cloud);
  const c = config.credentials;
  const now = options.now ?? Date.now;
  const renewal = options.renewal ?? DEFAULT_RENEWAL;
  // An authority of our own (AZURE_AUTHORITY_HOST: Azure Stack, a test stand-in) is not in Microsoft's instance
  // discovery list; MSAL would refuse it, or ask login.microsoftonline.com about it.
  const credentialOptions: CredentialOptions = {
    authorityHost: config.authorityHost,
    ...(isCloudAuthority(config.authorityHost) ? {} : { disableInstanceDiscovery: true }),
    ...options.credentialOptions,
  };
  const tenant = 'tenantId' in config ? config : undefined;
  const app =
    c.kind === 'clientSecret' || c.kind === 'clientCertificate' ? `${c.tenantId}|${c.clientId}|${config.authorityHost}|${scope}` : '';
  switch (c.kind) {
    case 'accessToken':
      return tenant
        ? new StaticTokenSource(
            c.token,
            tenant.accessTokenEnv,
            `accessToken of tenant ${tenant.tenantId}${tenant.accessTokenEnv ? ` (${tenant.accessTokenEnv})` : ''}`,
          )
        : new StaticTokenSource(c.token);
    case 'clientSecret':
      return shared(
        `secret|${app}|${createHash('sha256').update(c.clientSecret).digest('hex')}`,
        options,
        () =>
          new IdentityTokenSource(
            (identity) => new identity.ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, credentialOptions),
            scope,
            config.authorityHost,
            `client secret for app ${c.clientId}`,
            now,
            renewal,
          ),
      );
    case 'clientCertificate':
      return shared(
        `certificate|${app}|${c.certificatePath}`,
        options,
        () =>
          new IdentityTokenSource(
            (identity) =>
              new identity.ClientCertificateCredential(c.tenantId, c.clientId, { certificatePath: c.certificatePath }, credentialOptions),
            scope,
            config.authorityHost,
            `client certificate for app ${c.clientId}`,
            now,
            renewal,
          ),
      );
    case 'managedIdentity': {
      const identity = c.clientId === undefined ? 'system-assigned managed identity' : `user-assigned managed identity ${c.clientId}`;
      // Where the token comes from (App Service's IDENTITY_ENDPOINT, Azure Arc, Cloud Shell, IMDS…) the library reads
      // from the environment; authorityHost plays no part: the identity endpoint asks Entra itself.
      const managedOptions = { ...options.credentialOptions, ...(c.clientId === undefined ? {} : { clientId: c.clientId }) };
      return shared(
        `managed|${c.clientId ?? 'system'}|${scope}`,
        options,
        () =>
          new IdentityTokenSource(
            (lib) => new lib.ManagedIdentityCredential(managedOptions),
            scope,
            config.authorityHost,
            identity,
            now,
            renewal,
          ),
      );
    }
    case 'none':
      throw new MissingCredentialsError(
        'No Graph credentials: set GRAPH_ACCESS_TOKEN, or AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET ' +
          'or AZURE_CLIENT_CERTIFICATE_PATH, ' +
          'or AZURE_CREDENTIAL=managed-identity on Azure',
      );
  }
}

import type { TokenCredential } from '@azure/identity';
import type { SyncConfig, TenantConfig } from '../config.js';
import { graphScopeFor } from '../clouds.js';
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

/**
 * @azure/identity credential with the scope and authority of the configured cloud. The library is loaded at the first
 * token, not at start-up: it is the heaviest import of a worker (about half a second), and GRAPH_ACCESS_TOKEN needs none of it.
 */
class IdentityTokenSource implements TokenSource {
  private credential?: Promise<TokenCredential>;
  constructor(
    private readonly makeCredential: (identity: typeof import('@azure/identity')) => TokenCredential,
    readonly scope: string,
    readonly authorityHost: string,
    readonly description: string,
  ) {}
  async getToken(forceRefresh = false): Promise<string> {
    // MSAL caches tokens inside the credential; a fresh credential is the supported way to bypass that cache.
    if (forceRefresh || !this.credential) this.credential = import('@azure/identity').then(this.makeCredential);
    const token = await (await this.credential).getToken(this.scope);
    if (!token) throw new MissingCredentialsError(`${this.description} returned no token for ${this.scope}`);
    return token.token;
  }
}

/**
 * The token source of the default tenant (a SyncConfig) or of a tenant of SYNC_TENANTS_FILE (a TenantConfig, which has
 * tenantId): each tenant has its own, so its cache and its 401 refresh are its own.
 */
export function createTokenSource(config: Pick<SyncConfig, 'credentials' | 'cloud' | 'authorityHost'> | TenantConfig): TokenSource {
  const scope = graphScopeFor(config.cloud);
  const c = config.credentials;
  const tenant = 'tenantId' in config ? config : undefined;
  switch (c.kind) {
    case 'accessToken':
      return tenant
        ? new StaticTokenSource(c.token, tenant.accessTokenEnv, `accessToken of tenant ${tenant.tenantId}${tenant.accessTokenEnv ? ` (${tenant.accessTokenEnv})` : ''}`)
        : new StaticTokenSource(c.token);
    case 'clientSecret':
      return new IdentityTokenSource(
        (identity) => new identity.ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, { authorityHost: config.authorityHost }),
        scope,
        config.authorityHost,
        `client secret for app ${c.clientId}`,
      );
    case 'clientCertificate':
      return new IdentityTokenSource(
        (identity) => new identity.ClientCertificateCredential(c.tenantId, c.clientId, { certificatePath: c.certificatePath }, { authorityHost: config.authorityHost }),
        scope,
        config.authorityHost,
        `client certificate for app ${c.clientId}`,
      );
    case 'none':
      throw new MissingCredentialsError(
        'No Graph credentials: set GRAPH_ACCESS_TOKEN, or AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH',
      );
  }
}

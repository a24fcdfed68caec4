import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signedJwt } from './jwt.js';

/**
 * A local stand-in for Azure App Service's managed identity endpoint, the one ManagedIdentityCredential (through MSAL)
 * calls when IDENTITY_ENDPOINT and IDENTITY_HEADER are set: `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=…`
 * (and `client_id=…` for a user-assigned identity) with the header `X-IDENTITY-HEADER`; and of Cloud Shell's, called
 * when MSI_ENDPOINT alone is set: `POST <MSI_ENDPOINT>` with `Metadata: true` and the form `resource=…` (the shell's
 * own identity only). It answers as those do,
 * with access tokens signed by its own RSA key (give `publicKeyPem` to the simulator's jwtKeys), for the identities
 * assigned to it, and keeps a record of every request. Plain HTTP on 127.0.0.1, as the real endpoint is local too.
 */
export interface ManagedIdentityStandIn {
  /** IDENTITY_ENDPOINT for a child process. */
  readonly url: string;
  /** IDENTITY_HEADER: the secret the platform gives the process, which the endpoint wants back in X-IDENTITY-HEADER. */
  readonly header: string;
  readonly publicKeyPem: string;
  /** The tenant the identities live in: their tokens' `tid`. */
  readonly tenantId: string;
  /** The client id of the host's system-assigned identity, and of a user-assigned identity assigned to the host. */
  readonly systemClientId: string;
  readonly userClientId: string;
  readonly requests: IdentityRequest[];
  /** The variables App Service sets in the process: what ManagedIdentityCredential reads. */
  env(): Record<string, string>;
  /** The variable Cloud Shell sets. */
  cloudShellEnv(): Record<string, string>;
  configure(options: Partial<IdentityIssueOptions>): void;
  close(): Promise<void>;
}

export interface IdentityRequest {
  method: string;
  path: string;
  apiVersion: string | null;
  resource: string | null;
  /** The user-assigned identity asked for (`client_id`), null for the system-assigned one. */
  clientId: string | null;
  /** The X-IDENTITY-HEADER sent, null when none was. */
  identityHeader: string | null;
  /** The Metadata header sent (Cloud Shell), null when none was. */
  metadata: string | null;
  at: number;
}

export interface IdentityIssueOptions {
  lifetimeSeconds: number;
  roles: string[];
  /** Whether the host has a system-assigned identity (App Service answers 400 for it when not). */
  systemAssigned: boolean;
}

export async function startManagedIdentityStandIn(
  options: Partial<IdentityIssueOptions> & { tenantId?: string } = {},
): Promise<ManagedIdentityStandIn> {
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { tenantId: givenTenant, ...issueOptions } = options;
  const issue: IdentityIssueOptions = {
    lifetimeSeconds: 3600,
    roles: ['DeviceManagementApps.ReadWrite.All'],
    systemAssigned: true,
    ...issueOptions,
  };
  const tenantId = givenTenant ?? randomUUID();
  const header = `identity-header-${randomUUID()}`;
  const systemClientId = randomUUID();
  const userClientId = randomUUID();
  const requests: IdentityRequest[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(req, res, new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
  });
  const answer = (req: IncomingMessage, res: ServerResponse, form: URLSearchParams) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const sent = req.headers['x-identity-header'];
    const metadata = req.headers.metadata;
    const cloudShell = req.method === 'POST' && url.pathname === '/cloudshell/token';
    const request: IdentityRequest = {
      method: req.method ?? '',
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version'),
      resource: cloudShell ? form.get('resource') : url.searchParams.get('resource'),
      clientId: url.searchParams.get('client_id'),
      identityHeader: typeof sent === 'string' ? sent : null,
      metadata: typeof metadata === 'string' ? metadata : null,
      at: Date.now(),
    };
    requests.push(request);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    // App Service's error bodies: statusCode, message, correlationId.
    const refuse = (status: number, message: string) => send(status, { statusCode: status, message, correlationId: randomUUID() });
    if (cloudShell) {
      if (request.metadata !== 'true') return refuse(400, 'Required metadata header not specified');
    } else {
      if (req.method !== 'GET' || url.pathname !== '/msi/token') return refuse(404, `no such endpoint ${url.pathname}`);
      if (request.identityHeader !== header) return refuse(401, 'The X-IDENTITY-HEADER is missing or wrong.');
      if (request.apiVersion !== '2019-08-01') return refuse(400, 'Unsupported api-version.');
    }
    if (!request.resource) return refuse(400, 'The resource parameter is required.');
    const assigned = request.clientId === null ? issue.systemAssigned : request.clientId === userClientId;
    const identity = assigned ? (request.clientId ?? systemClientId) : undefined;
    if (!identity) return refuse(400, 'Unable to load the proper Managed Identity.');
    const now = Math.floor(Date.now() / 1000);
    const accessToken = signedJwt(
      {
        aud: request.resource,
        iss: `https://sts.windows.net/${tenantId}/`,
        iat: now,
        nbf: now,
        exp: now + issue.lifetimeSeconds,
        tid: tenantId,
        appid: identity,
        oid: randomUUID(),
        idtyp: 'app',
        roles: issue.roles,
        ver: '1.0',
        uti: randomUUID(),
      },
      signing.privateKey,
    );
    // App Service gives expires_on in epoch seconds, as a string.
    const expiresOn = String(now + issue.lifetimeSeconds);
    send(200, { access_token: accessToken, expires_on: expiresOn, resource: request.resource, token_type: 'Bearer', client_id: identity });
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${origin}/msi/token`;

  return {
    url,
    header,
    publicKeyPem: signing.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    tenantId,
    systemClientId,
    userClientId,
    requests,
    env: () => ({ IDENTITY_ENDPOINT: url, IDENTITY_HEADER: header }),
    cloudShellEnv: () => ({ MSI_ENDPOINT: `${origin}/cloudshell/token` }),
    configure: (o) => Object.assign(issue, o),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

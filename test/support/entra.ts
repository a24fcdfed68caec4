import { execFile } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomUUID, constants as cryptoConstants, verify, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createDefaultHttpClient, type HttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import { signedJwt } from './jwt.js';

const run = promisify(execFile);

/**
 * A local Entra ID stand-in for tests: HTTPS with a certificate of a test CA made by openssl in a temp folder, the
 * OIDC discovery and v2.0 token endpoints that @azure/identity's ClientSecretCredential and ClientCertificateCredential
 * call, access tokens signed with its own RSA key (give `publicKeyPem` to the simulator's jwtKeys), and a record of
 * every request. Trusted by a child process through NODE_EXTRA_CA_CERTS=`caPath`, or in-process through `httpClient()`.
 */
export interface EntraStandIn {
  /** https://127.0.0.1:<port>: AZURE_AUTHORITY_HOST for a child process. */
  readonly url: string;
  /** The test CA's certificate (PEM file): NODE_EXTRA_CA_CERTS for a child process. */
  readonly caPath: string;
  /** The key that signs access tokens now, to give the simulator (jwtKeys). */
  readonly publicKeyPem: string;
  /** An app registered with a secret, and one with a certificate (`certificatePath`: its key and certificate in one PEM). */
  readonly secretApp: { clientId: string; clientSecret: string };
  readonly certificateApp: { clientId: string; certificatePath: string };
  readonly tokenRequests: TokenRequest[];
  /** Every request, token or not (discovery, anything unexpected), as `METHOD origin/path`. */
  readonly requests: string[];
  /**
   * For in-process credentials: an HttpClient (TokenCredentialOptions.httpClient) that sends every request, whatever
   * its host (login.microsoftonline.us…), to this stand-in over the test CA, and tells it the origin asked for.
   */
  httpClient(): HttpClient;
  /** How tokens are issued from now on. */
  configure(options: Partial<IssueOptions>): void;
  /** Signs the next `n` tokens with a key the simulator does not know (a key rolled over at Entra): they get 401. */
  signNextWithRetiredKey(n: number): void;
  close(): Promise<void>;
}

export interface TokenRequest {
  /** The origin the client asked for: its authority host. */
  authority: string;
  path: string;
  tenant: string;
  clientId: string;
  scope: string;
  grantType: string;
  /** `secret` when a client_secret came, `assertion` when a signed client assertion did (checked with the app's certificate). */
  proof: 'secret' | 'assertion';
  at: number;
}

export interface IssueOptions {
  lifetimeSeconds: number;
  roles: string[];
  /** Delay before a token answer: keeps a fetch in flight long enough for concurrent callers to meet it. */
  delayMs: number;
}

const ORIGIN_HEADER = 'x-test-original-origin';

export async function startEntraStandIn(options: Partial<IssueOptions> = {}): Promise<EntraStandIn> {
  const dir = await mkdtemp(join(tmpdir(), 'csync-entra-'));
  const tls = await makeTestCa(dir);
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const retired = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let retiredLeft = 0;
  const issue: IssueOptions = { lifetimeSeconds: 3600, roles: ['DeviceManagementApps.ReadWrite.All'], delayMs: 0, ...options };
  const secretApp = { clientId: randomUUID(), clientSecret: `secret-${randomUUID()}` };
  const certificateApp = { clientId: randomUUID(), certificatePath: tls.clientPath };
  const clientCertKey = createPublicKey(tls.clientCertPem);
  const tokenRequests: TokenRequest[] = [];
  const requests: string[] = [];

  const server: Server = createServer({ key: tls.serverKeyPem, cert: tls.serverCertPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const ownOrigin = `https://${req.headers.host}`;
        const origin = typeof req.headers[ORIGIN_HEADER] === 'string' ? req.headers[ORIGIN_HEADER] : ownOrigin;
        const url = new URL(req.url ?? '/', ownOrigin);
        requests.push(`${req.method} ${origin}${url.pathname}`);
        const send = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(body));
        };
        const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
        if (req.method === 'GET' && discovery) {
          const tenant = discovery[1];
          return send(200, {
            token_endpoint: `${origin}/${tenant}/oauth2/v2.0/token`,
            authorization_endpoint: `${origin}/${tenant}/oauth2/v2.0/authorize`,
            end_session_endpoint: `${origin}/${tenant}/oauth2/v2.0/logout`,
            jwks_uri: `${origin}/${tenant}/discovery/v2.0/keys`,
            issuer: `${origin}/${tenant}/v2.0`,
            response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
            token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
          });
        }
        if (req.method === 'GET' && url.pathname === '/common/discovery/instance') {
          const host = new URL(origin).host;
          return send(200, {
            tenant_discovery_endpoint: `${origin}/{tenant}/v2.0/.well-known/openid-configuration`,
            'api-version': '1.1',
            metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
          });
        }
        const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
        if (req.method !== 'POST' || !token)
          return send(404, { error: 'not_found', error_description: `no such endpoint ${url.pathname}` });
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const tenant = token[1];
        const clientId = form.get('client_id') ?? '';
        const scope = form.get('scope') ?? '';
        let proof: TokenRequest['proof'];
        if (clientId === secretApp.clientId && form.get('client_secret') === secretApp.clientSecret) proof = 'secret';
        else if (
          clientId === certificateApp.clientId &&
          checkAssertion(form, clientCertKey, `${origin}/${tenant}/oauth2/v2.0/token`, clientId)
        )
          proof = 'assertion';
        else
          return send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret or assertion provided.' });
        tokenRequests.push({
          authority: origin,
          path: url.pathname,
          tenant,
          clientId,
          scope,
          grantType: form.get('grant_type') ?? '',
          proof,
          at: Date.now(),
        });
        if (issue.delayMs > 0) await new Promise((r) => setTimeout(r, issue.delayMs));
        const resource = scope
          .split(' ')
          .find((s) => s.endsWith('/.default'))
          ?.slice(0, -'/.default'.length);
        if (!resource)
          return send(400, { error: 'invalid_scope', error_description: 'AADSTS1002012: The provided value for scope is not valid.' });
        const now = Math.floor(Date.now() / 1000);
        const key = retiredLeft > 0 ? (retiredLeft--, retired.privateKey) : signing.privateKey;
        const accessToken = signedJwt(
          {
            aud: resource,
            iss: `https://sts.windows.net/${tenant}/`,
            iat: now,
            nbf: now,
            exp: now + issue.lifetimeSeconds,
            tid: tenant,
            appid: clientId,
            azp: clientId,
            roles: issue.roles,
            idtyp: 'app',
            ver: '1.0',
            uti: randomUUID(),
          },
          key,
        );
        send(200, {
          token_type: 'Bearer',
          expires_in: issue.lifetimeSeconds,
          ext_expires_in: issue.lifetimeSeconds,
          access_token: accessToken,
        });
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new Agent({ ca: tls.caPem, keepAlive: false });
  const inner = createDefaultHttpClient();

  return {
    url,
    caPath: tls.caPath,
    publicKeyPem: signing.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    secretApp,
    certificateApp,
    tokenRequests,
    requests,
    httpClient: () => ({
      async sendRequest(request: PipelineRequest) {
        const asked = new URL(request.url);
        request.headers.set(ORIGIN_HEADER, asked.origin);
        request.url = `${url}${asked.pathname}${asked.search}`;
        request.agent = agent;
        return inner.sendRequest(request);
      },
    }),
    configure: (o) => Object.assign(issue, o),
    signNextWithRetiredKey: (n) => {
      retiredLeft = n;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A client assertion (private_key_jwt) signed by the app's certificate, for this token endpoint, naming the app. */
function checkAssertion(form: URLSearchParams, key: KeyObject, audience: string, clientId: string): boolean {
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return false;
  const parts = (form.get('client_assertion') ?? '').split('.');
  if (parts.length !== 3) return false;
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString()) as { alg?: string };
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString()) as { aud?: string; iss?: string; sub?: string; exp?: number };
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  const signed =
    header.alg === 'PS256'
      ? verify('sha256', data, { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
      : header.alg === 'RS256' && verify('RSA-SHA256', data, key, signature);
  // Entra accepts the token endpoint as the audience; it must be this authority's, or the assertion was meant for another.
  return (
    signed && payload.aud === audience && payload.iss === clientId && payload.sub === clientId && (payload.exp ?? 0) > Date.now() / 1000
  );
}

interface TestTls {
  caPath: string;
  caPem: string;
  serverKeyPem: string;
  serverCertPem: string;
  /** The app's private key and self-signed certificate in one PEM, as AZURE_CLIENT_CERTIFICATE_PATH takes it. */
  clientPath: string;
  clientCertPem: string;
}

/** A CA, a server certificate for 127.0.0.1 signed by it, and an app certificate: made by openssl, now, in `dir`. */
async function makeTestCa(dir: string): Promise<TestTls> {
  const p = (name: string) => join(dir, name);
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=compliance-sync test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(
    p('server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('server.pem'),
    '-days',
    '2',
    '-extfile',
    p('server.ext'),
  ]);
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('client.key'),
    '-out',
    p('client.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=compliance-sync test app',
  ]);
  const clientKey = await readFile(p('client.key'), 'utf8');
  const clientCertPem = await readFile(p('client.crt'), 'utf8');
  await writeFile(p('client.pem'), `${clientKey}${clientCertPem}`);
  return {
    caPath: p('ca.pem'),
    caPem: await readFile(p('ca.pem'), 'utf8'),
    serverKeyPem: await readFile(p('server.key'), 'utf8'),
    serverCertPem: await readFile(p('server.pem'), 'utf8'),
    clientPath: p('client.pem'),
    clientCertPem,
  };
}

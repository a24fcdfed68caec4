/**
 * What `doctor` says about a managed identity (AZURE_CREDENTIAL=managed-identity): where its tokens come from, and why
 * none came. Pure: the environment and the error text are given. The token itself is requested by @azure/identity's
 * ManagedIdentityCredential, which picks its endpoint from the same variables.
 */

export interface ManagedIdentitySource {
  /** The Azure host kind, as an operator knows it: "App Service", "IMDS"... */
  name: string;
  /** Where the token is requested, and the variables that said so (IMDS: none, it is the default). */
  endpoint: string;
  variables: string;
  /** What to call the resource the identity is assigned to, in a fix ("the app", "the VM"...). */
  host: string;
}

const IMDS = 'http://169.254.169.254/metadata/identity/oauth2/token';

/** Text from outside (an endpoint's answer, a variable) as it may be printed: no control characters, bounded. */
function printable(text: string, max = 200): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

type Env = Record<string, string | undefined>;

/**
 * The source ManagedIdentityCredential (4.x, through MSAL) uses, in its order: AKS workload identity (a federated token
 * file), Service Fabric, App Service (and Functions, Container Apps), Azure Machine Learning, Cloud Shell, Azure Arc,
 * and else the VM's Instance Metadata Service. (Arc found by its agent's files alone, without its variables, shows as IMDS.)
 */
export function managedIdentitySource(env: Env, clientId?: string): ManagedIdentitySource {
  const set = (...names: string[]) => names.every((n) => (env[n] ?? '') !== '');
  if ((clientId !== undefined || set('AZURE_CLIENT_ID')) && set('AZURE_TENANT_ID', 'AZURE_FEDERATED_TOKEN_FILE')) {
    const file = env.AZURE_FEDERATED_TOKEN_FILE!;
    return { name: 'AKS workload identity', endpoint: file, variables: 'AZURE_FEDERATED_TOKEN_FILE', host: 'service account' };
  }
  if (set('IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT')) {
    return { name: 'Service Fabric', endpoint: env.IDENTITY_ENDPOINT!, variables: 'IDENTITY_ENDPOINT', host: 'application' };
  }
  if (set('IDENTITY_ENDPOINT', 'IDENTITY_HEADER')) {
    return { name: 'App Service', endpoint: env.IDENTITY_ENDPOINT!, variables: 'IDENTITY_ENDPOINT and IDENTITY_HEADER', host: 'app' };
  }
  if (set('MSI_ENDPOINT', 'MSI_SECRET')) {
    return { name: 'Azure Machine Learning', endpoint: env.MSI_ENDPOINT!, variables: 'MSI_ENDPOINT', host: 'compute' };
  }
  if (set('MSI_ENDPOINT')) return { name: 'Cloud Shell', endpoint: env.MSI_ENDPOINT!, variables: 'MSI_ENDPOINT', host: 'Cloud Shell' };
  if (set('IDENTITY_ENDPOINT', 'IMDS_ENDPOINT')) {
    return { name: 'Azure Arc', endpoint: env.IDENTITY_ENDPOINT!, variables: 'IDENTITY_ENDPOINT', host: 'server' };
  }
  if (set('AZURE_POD_IDENTITY_AUTHORITY_HOST')) {
    return { name: 'IMDS', endpoint: env.AZURE_POD_IDENTITY_AUTHORITY_HOST!, variables: 'AZURE_POD_IDENTITY_AUTHORITY_HOST', host: 'VM' };
  }
  return { name: 'IMDS', endpoint: IMDS, variables: '', host: 'VM' };
}

/** "the system-assigned managed identity" or "the user-assigned managed identity <client id>", and where it comes from. */
export function describeManagedIdentity(source: ManagedIdentitySource, clientId?: string): string {
  const who = clientId === undefined ? 'the system-assigned managed identity' : `the user-assigned managed identity ${clientId}`;
  const variables = source.variables === '' ? '' : ` (${source.variables})`;
  return `${who} (AZURE_CREDENTIAL=managed-identity), through ${source.name} at ${printable(source.endpoint)}${variables}`;
}

/**
 * Why no token came from the identity endpoint, and what to do. `message` is the credential's error (or doctor's
 * timeout); ManagedIdentityCredential wraps the endpoint's own text, which is what is matched.
 */
export function explainManagedIdentityFailure(
  message: string,
  source: ManagedIdentitySource,
  clientId?: string,
): { detail: string; fix: string } {
  // MSAL's error wraps the endpoint's own words as "Description: … - Correlation ID: …".
  const firstLine = printable(message.split('\n')[0], 400);
  const said = /Description: (.*?)(?: - Correlation ID|$)/.exec(firstLine)?.[1] ?? firstLine;
  const endpoint = printable(source.endpoint);
  if (source.variables !== '' && source.name !== 'AKS workload identity' && !/^https?:\/\/[^\s]+$/i.test(source.endpoint)) {
    const variable = source.variables.split(' ')[0];
    return {
      detail: `${variable} "${endpoint}" is not an http(s) URL, so ${source.name}'s identity endpoint cannot be asked`,
      fix: `unset ${variable} (the platform sets it where it offers a managed identity), or correct it`,
    };
  }
  const variables = source.variables === '' ? '' : ` (${source.variables})`;
  const offAzure = 'off Azure, use AZURE_CREDENTIAL=secret or certificate with an app registration instead';
  if (/network unreachable|network_error|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|took longer than/i.test(message)) {
    if (source.name === 'IMDS' && source.variables === '') {
      return {
        detail:
          `the Azure Instance Metadata Service (${endpoint}) did not answer: this host is not an Azure VM, scale set, ` +
          `AKS node or container with a managed identity (${firstLine})`,
        fix: `run it on Azure with a managed identity (App Service, Functions, Container Apps set IDENTITY_ENDPOINT); ${offAzure}`,
      };
    }
    return {
      detail: `the ${source.name} identity endpoint ${endpoint}${variables} did not answer (${firstLine})`,
      fix: `turn on a managed identity for this ${source.host} and restart it, so the platform sets ${source.variables} anew; ${offAzure}`,
    };
  }
  if (/not supported for CloudShell|ServiceFabric|user-assigned managed identity is not supported/i.test(message)) {
    return { detail: `${source.name} offers only its own identity: ${firstLine}`, fix: 'unset AZURE_CLIENT_ID to use it' };
  }
  if (/Unable to load the proper Managed Identity|identity not found|no managed identity|not assigned|invalid_request/i.test(message)) {
    return clientId === undefined
      ? {
          detail: `this ${source.host} has no system-assigned managed identity (${source.name} answered: ${said})`,
          fix:
            `turn on the system-assigned identity of the ${source.host} (Identity, Status On), ` +
            'or set AZURE_CLIENT_ID to the client id of a user-assigned identity assigned to it',
        }
      : {
          detail:
            `no user-assigned identity with client id ${clientId} (AZURE_CLIENT_ID) is assigned to this ${source.host} ` +
            `(${source.name} answered: ${said})`,
          fix:
            `assign that identity to the ${source.host}, or set AZURE_CLIENT_ID to the client id (not the object or principal id) ` +
            'of one that is; unset it for the system-assigned identity',
        };
  }
  return { detail: `${source.name} gave no token: ${said}`, fix: `check the managed identity of this ${source.host}; ${offAzure}` };
}

/**
 * The fix for a managed identity whose token lacks the write permission: it has no "API permissions" page to consent
 * on; the Graph app role is assigned to its service principal, and tokens already issued are cached by the endpoint.
 */
export function managedIdentityRoleFix(roles: readonly string[]): string {
  const role = roles.length === 1 ? roles[0] : `${roles[1]} (or ${roles[0]})`;
  return (
    `assign the identity's service principal the Microsoft Graph app role ${role} (New-MgServicePrincipalAppRoleAssignment, ` +
    'or az rest .../servicePrincipals/<id>/appRoleAssignments); the identity endpoint caches tokens for up to 24 h, ' +
    'so restart the host or wait before checking again'
  );
}

import type { TokenGrant } from './options.js';

export const WRITE_PERMISSIONS = ['DeviceManagementConfiguration.ReadWrite.All', 'DeviceManagementApps.ReadWrite.All'];
const READ_PERMISSIONS = [...WRITE_PERMISSIONS, 'DeviceManagementConfiguration.Read.All', 'DeviceManagementApps.Read.All'];

export type AuthResult =
  { ok: true; grant: TokenGrant } | { ok: false; status: 401 | 403; code: string; message: string; grant?: TokenGrant };

/** The token after "Bearer ", or undefined when the header carries none. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S.*?)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Who a token stands for, or why it is refused (Graph's message). */
export type TokenLookup = (token: string) => TokenGrant | { refused: string };

/** The fixed opaque tokens of the simulator's options. */
export function fixedTokens(tokens: Record<string, TokenGrant>): TokenLookup {
  return (token) => (Object.hasOwn(tokens, token) ? tokens[token] : { refused: 'Access token validation failure.' });
}

export function authorize(token: string | undefined, lookup: TokenLookup, write: boolean): AuthResult {
  if (token === undefined) {
    return { ok: false, status: 401, code: 'InvalidAuthenticationToken', message: 'Access token is empty.' };
  }
  const grant = lookup(token);
  if ('refused' in grant) {
    return { ok: false, status: 401, code: 'InvalidAuthenticationToken', message: grant.refused };
  }
  const accepted = write ? WRITE_PERMISSIONS : READ_PERMISSIONS;
  if (!grant.permissions.some((p) => accepted.includes(p))) {
    return {
      ok: false,
      status: 403,
      code: 'Forbidden',
      grant,
      message:
        'Application is not authorized to perform this operation. Application must have one of the following ' +
        `permissions: ${accepted.join(', ')}.`,
    };
  }
  return { ok: true, grant };
}

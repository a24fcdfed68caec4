import type { TokenGrant } from './options.js';

export const WRITE_PERMISSIONS = ['DeviceManagementConfiguration.ReadWrite.All', 'DeviceManagementApps.ReadWrite.All'];
const READ_PERMISSIONS = [...WRITE_PERMISSIONS, 'DeviceManagementConfiguration.Read.All', 'DeviceManagementApps.Read.All'];

export type AuthResult =
  | { ok: true; grant: TokenGrant }
  | { ok: false; status: 401 | 403; code: string; message: string; grant?: TokenGrant };

/** The token after "Bearer ", or undefined when the header carries none. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S.*?)\s*$/i.exec(header ?? '');
  return match?.[1];
}

export function authorize(token: string | undefined, tokens: Record<string, TokenGrant>, write: boolean): AuthResult {
  if (token === undefined) {
    return { ok: false, status: 401, code: 'InvalidAuthenticationToken', message: 'Access token is empty.' };
  }
  const grant = Object.hasOwn(tokens, token) ? tokens[token] : undefined;
  if (!grant) {
    return { ok: false, status: 401, code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' };
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

import type { DoctorCheck } from '../interfaces.js';

/**
 * What a Graph access token says about itself, for `doctor`. The signature is not checked: Graph does
 * that, and doctor only wants to tell an operator, before a run, that the token is for the wrong cloud
 * or lacks the permission, which a run would otherwise discover as 401s and 403s. Nothing here prints
 * the token itself.
 */

export interface TokenClaims {
  aud?: string;
  roles?: string[];
  scp?: string;
  exp?: number;
  appid?: string;
  tid?: string;
}

/** Under beta, either grants writing userStatuses (README.md, "Configuration"; Graph's beta reference for the PATCH). */
export const WRITE_PERMISSIONS = ['DeviceManagementConfiguration.ReadWrite.All', 'DeviceManagementApps.ReadWrite.All'] as const;

/**
 * The permissions that grant writing userStatuses under each API version: the v1.0 reference of the same PATCH lists only
 * DeviceManagementApps.ReadWrite.All, so a token holding only DeviceManagementConfiguration.ReadWrite.All is not enough there.
 */
export function writePermissionsFor(apiVersion: 'beta' | 'v1.0'): readonly string[] {
  return apiVersion === 'v1.0' ? ['DeviceManagementApps.ReadWrite.All'] : WRITE_PERMISSIONS;
}

/** Microsoft Graph's application id, which v2 tokens may carry as their audience instead of the host. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

/** The payload of a JWT (header.payload.signature, base64url), or undefined when the token is not one. */
export function decodeJwtPayload(token: string): TokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p)) || parts[1] === '') return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
    const p = payload as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return {
      aud: str(p.aud),
      roles: Array.isArray(p.roles) ? p.roles.filter((r): r is string => typeof r === 'string') : undefined,
      scp: str(p.scp),
      exp: typeof p.exp === 'number' ? p.exp : undefined,
      appid: str(p.appid) ?? str(p.azp),
      tid: str(p.tid),
    };
  } catch {
    return undefined;
  }
}

const trimSlash = (s: string) => s.replace(/\/+$/, '').toLowerCase();

/** Printable, bounded, free of control characters: claims come from outside and end up on a terminal. */
const shown = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

export function judgeTokenAudience(claims: TokenClaims, graphHost: string, name = 'credentials.audience'): DoctorCheck {
  if (!claims.aud)
    return {
      name,
      result: 'fail',
      detail: 'the token has no audience (aud) claim',
      fix: `request the token for the scope ${graphHost}/.default`,
    };
  if (trimSlash(claims.aud) === trimSlash(graphHost) || claims.aud === GRAPH_APP_ID) {
    return { name, result: 'ok', detail: `the token is for ${graphHost}`, fix: '' };
  }
  return {
    name,
    result: 'fail',
    detail: `the token is for ${shown(claims.aud)}, not for ${graphHost}, the Graph host of GRAPH_CLOUD: Graph will answer 401`,
    fix: `request the token for the scope ${graphHost}/.default, or set GRAPH_CLOUD to the cloud the token was issued in`,
  };
}

export function judgeTokenRoles(claims: TokenClaims, apiVersion: 'beta' | 'v1.0' = 'beta', name = 'credentials.permission'): DoctorCheck {
  const needed = writePermissionsFor(apiVersion);
  const under = `GRAPH_API_VERSION ${apiVersion}`;
  const roles = claims.roles ?? [];
  const granted = needed.filter((p) => roles.includes(p));
  if (granted.length > 0)
    return {
      name,
      result: 'ok',
      detail: `the token grants ${granted.join(' and ')} (application permission), which ${under} accepts`,
      fix: '',
    };
  // A delegated (user) token carries its permissions as space-separated scopes instead.
  const scopes = (claims.scp ?? '').split(' ').filter((s) => s !== '');
  const delegated = needed.filter((p) => scopes.includes(p));
  if (delegated.length > 0)
    return {
      name,
      result: 'ok',
      detail: `the token grants ${delegated.join(' and ')} (delegated permission), which ${under} accepts`,
      fix: '',
    };
  const has = [...roles, ...scopes];
  // A permission that only beta accepts: say so, rather than "missing", so the fix is the version or the grant.
  const betaOnly = WRITE_PERMISSIONS.filter((p) => !needed.includes(p) && has.includes(p));
  const wanted = needed.length === 1 ? needed[0] : needed.join(' nor ');
  const holds = has.length > 0 ? `; it has ${has.slice(0, 10).map(shown).join(', ')}` : '; it has no roles at all';
  return {
    name,
    result: 'fail',
    detail:
      betaOnly.length > 0
        ? `the token grants ${betaOnly.join(' and ')}, which only the beta API accepts ` +
          `for this PATCH; under ${under} Graph documents only ${wanted}: every PATCH ` +
          `would get 403`
        : (needed.length === 1
            ? `the token does not grant ${wanted}, the one permission ${under} accepts`
            : `the token grants neither ${wanted}`) + `${holds}: every PATCH would get 403`,
    fix:
      betaOnly.length > 0
        ? `grant the app the Microsoft Graph application permission ${needed[0]} (with an admin's consent), or set GRAPH_API_VERSION=beta`
        : `grant the app the Microsoft Graph application ` +
          `permission ${needed.length === 1 ? needed[0] : `${needed[1]} (or ${needed[0]})`}` +
          ` and an admin's consent, then get a new token`,
  };
}

export function judgeTokenExpiry(claims: TokenClaims, nowMs: number, name = 'credentials.expiry'): DoctorCheck {
  if (claims.exp === undefined) return { name, result: 'ok', detail: 'the token carries no expiry', fix: '' };
  const left = claims.exp * 1000 - nowMs;
  const when = new Date(claims.exp * 1000).toISOString();
  if (left <= 0)
    return {
      name,
      result: 'fail',
      detail: `the token expired at ${when}`,
      fix: 'get a new token (GRAPH_ACCESS_TOKEN), or use AZURE_* credentials, which renew tokens themselves',
    };
  if (left < 10 * 60_000)
    return {
      name,
      result: 'warn',
      detail: `the token expires at ${when}, in ${Math.round(left / 60_000)} min`,
      fix: 'a fixed GRAPH_ACCESS_TOKEN is not renewed: use AZURE_* credentials for runs longer than that',
    };
  return { name, result: 'ok', detail: `the token is valid until ${when}`, fix: '' };
}

/** Every verdict on one token: not a JWT (like the simulator's) is a warning, since nothing can be read from it. */
export function judgeToken(token: string, graphHost: string, nowMs: number, apiVersion: 'beta' | 'v1.0' = 'beta'): DoctorCheck[] {
  const claims = decodeJwtPayload(token);
  if (!claims) {
    return [
      {
        name: 'credentials.permission',
        result: 'warn',
        detail: "the token is not a JWT (the simulator's is not), so its audience and roles cannot be checked",
        fix: 'nothing to do for the simulator; against Graph, a token that is not a JWT will be refused',
      },
    ];
  }
  return [judgeTokenAudience(claims, graphHost), judgeTokenRoles(claims, apiVersion), judgeTokenExpiry(claims, nowMs)];
}

import { createPublicKey, verify, type KeyObject } from 'node:crypto';

/**
 * Graph's hosts, one per national cloud (the same list as src/clouds.ts, which the simulator may not import).
 * A token's audience must be the host of the cloud the simulator stands for, as on Graph.
 */
export const GRAPH_HOSTS = [
  'https://graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
] as const;

/** Microsoft Graph's application id: v2 tokens may carry it as their audience instead of the host. */
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

/** Who a valid token stands for (the shape of options.ts's TokenGrant, not imported: options.ts imports this module). */
export type JwtVerdict = { ok: true; grant: { tenantId: string; appId: string; permissions: string[] } } | { ok: false; message: string };

/** Whether the token is shaped as a JWT (header.payload.signature); the fixed opaque tokens are not. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

export function publicKeys(pems: readonly string[]): KeyObject[] {
  return pems.map((pem) => createPublicKey(pem));
}

const trimSlash = (s: string) => s.replace(/\/+$/, '').toLowerCase();

function parsePart(part: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks an RS256 JWT as Graph does: a signature by one of `keys`, `nbf` and `exp` against `nowMs`, and an audience
 * of `graphHost`. The grant comes from its claims: `tid`, `appid` (or `azp`), `roles`. Messages are Graph's.
 */
export function verifyJwt(token: string, keys: readonly KeyObject[], graphHost: string, nowMs: number): JwtVerdict {
  const invalid = { ok: false, message: 'Access token validation failure. Invalid audience.' } as const;
  const [h, p, s] = token.split('.');
  const header = parsePart(h);
  const payload = parsePart(p);
  if (!header || !payload) return { ok: false, message: 'IDX14100: JWT is not well formed.' };
  if (header.alg !== 'RS256') return { ok: false, message: 'Access token validation failure.' };
  const signed = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  if (!keys.some((key) => verify('RSA-SHA256', signed, key, signature))) {
    return { ok: false, message: 'Access token validation failure. Invalid signature.' };
  }
  const nowS = nowMs / 1000;
  if (typeof payload.exp !== 'number' || payload.exp <= nowS) {
    return { ok: false, message: 'Lifetime validation failed, the token is expired.' };
  }
  if (typeof payload.nbf === 'number' && payload.nbf > nowS) {
    return { ok: false, message: 'Lifetime validation failed, the token is not yet valid (nbf).' };
  }
  const aud = typeof payload.aud === 'string' ? payload.aud : undefined;
  if (aud === undefined || (trimSlash(aud) !== trimSlash(graphHost) && aud !== GRAPH_APP_ID)) return invalid;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const tenantId = str(payload.tid);
  const appId = str(payload.appid) ?? str(payload.azp);
  if (!tenantId || !appId) return { ok: false, message: 'Access token validation failure. The token has no tid or appid.' };
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [];
  return { ok: true, grant: { tenantId, appId, permissions: roles } };
}

import { sign } from 'node:crypto';

/** An unsigned JWT with the given payload, shaped as Entra issues them (doctor never checks the signature). */
export function unsignedJwt(payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(payload)}.c2lnbmF0dXJl`;
}

/** An RS256 JWT signed with `privateKey` (a KeyObject or PEM), as Entra signs access tokens. */
export function signedJwt(payload: Record<string, unknown>, privateKey: import('node:crypto').KeyLike, kid = 'test-key'): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const signingInput = `${part({ alg: 'RS256', typ: 'JWT', kid })}.${part(payload)}`;
  const signature = sign('RSA-SHA256', Buffer.from(signingInput), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

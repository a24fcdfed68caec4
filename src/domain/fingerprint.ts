import { createHash } from 'node:crypto';
import type { UserStatusProperties } from '../interfaces.js';

const ORDER: (keyof UserStatusProperties)[] = ['userDisplayName', 'devicesCount', 'status', 'lastReportedDateTime', 'userPrincipalName'];

/** A stable hash of exactly the properties a PATCH would send; absent and present-but-equal must differ. */
export function fingerprint(properties: UserStatusProperties): string {
  const canonical = ORDER.map((name) => (properties[name] === undefined ? '' : `${name}=${JSON.stringify(properties[name])}`)).join(
    '\u0001',
  );
  return createHash('sha1').update(canonical).digest('base64url').slice(0, 22);
}

import type { UserStatusRecord } from '../interfaces.js';
import { tenantIdOf, tenantRecordKey } from '../redis-layout.js';

/**
 * The identity of one user status in Graph. `/` can never appear inside a validated id,
 * so joining with it is unambiguous. Another tenant's object with the same ids is another object: its key starts with
 * the tenant (see src/redis-layout.ts), the default tenant's does not (the keys of a single-tenant deployment).
 */
export function recordKey(record: Pick<UserStatusRecord, 'configurationType' | 'configurationId' | 'userStatusId' | 'tenantId'>): string {
  return tenantRecordKey(tenantIdOf(record), `${record.configurationType}/${record.configurationId}/${record.userStatusId}`);
}

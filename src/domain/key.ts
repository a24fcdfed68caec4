import type { UserStatusRecord } from '../interfaces.js';

/**
 * The identity of one user status in Graph. `/` can never appear inside a validated id,
 * so joining with it is unambiguous.
 */
export function recordKey(record: Pick<UserStatusRecord, 'configurationType' | 'configurationId' | 'userStatusId'>): string {
  return `${record.configurationType}/${record.configurationId}/${record.userStatusId}`;
}

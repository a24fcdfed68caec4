import type { ConfigurationType, UserStatusRecord } from '../interfaces.js';

export const USER_STATUS_ODATA_TYPE = '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus';

const COLLECTION: Record<ConfigurationType, string> = {
  mobileAppConfiguration: 'mobileAppConfigurations',
  iosLobAppProvisioningConfiguration: 'iosLobAppProvisioningConfigurations',
};

/**
 * The only two paths this project ever writes to. Ids were already validated, and are encoded
 * again here so that nothing in them can change the path's shape.
 */
export function patchPath(record: Pick<UserStatusRecord, 'configurationType' | 'configurationId' | 'userStatusId'>): string {
  return (
    `/deviceAppManagement/${COLLECTION[record.configurationType]}` +
    `/${encodeURIComponent(record.configurationId)}` +
    `/userStatuses/${encodeURIComponent(record.userStatusId)}`
  );
}

/** The collection of one configuration's user statuses, which reads list (GET, paged). */
export function listPath(record: Pick<UserStatusRecord, 'configurationType' | 'configurationId'>): string {
  return `/deviceAppManagement/${COLLECTION[record.configurationType]}/${encodeURIComponent(record.configurationId)}/userStatuses`;
}

/** Only provided properties are sent: an absent one means "leave it as it is". */
export function patchBody(record: UserStatusRecord): Record<string, unknown> {
  return { '@odata.type': USER_STATUS_ODATA_TYPE, ...record.properties };
}

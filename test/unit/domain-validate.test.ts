import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dateTimeProblem, idProblem, parseDevicesCount, toCanonicalFields, validateRow } from '../../src/domain/validate.js';
import { createColumnMapper, resolveHeader } from '../../src/domain/columns.js';
import { patchBody, patchPath } from '../../src/domain/payload.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { reportedTicks, versionOf } from '../../src/domain/version.js';

const makeVersion = (lastReportedDateTime: string | undefined, arrival: number) => versionOf(reportedTicks(lastReportedDateTime), arrival);

const base = { configurationId: 'cfg-1', userStatusId: 'us-1' };

describe('validateRow', () => {
  it('accepts a full row and canonicalises enum case', () => {
    const r = validateRow({
      ...base,
      configurationType: 'IOSLOBAPPPROVISIONINGCONFIGURATION',
      userDisplayName: 'Ann',
      devicesCount: '3',
      status: 'NonCompliant',
      lastReportedDateTime: '2017-01-01T00:00:17.7769392-08:00',
      userPrincipalName: 'ann@x',
    });
    assert.ok(r.ok);
    assert.equal(r.record.configurationType, 'iosLobAppProvisioningConfiguration');
    assert.deepEqual(r.record.properties, {
      userDisplayName: 'Ann',
      devicesCount: 3,
      status: 'nonCompliant',
      lastReportedDateTime: '2017-01-01T00:00:17.7769392-08:00',
      userPrincipalName: 'ann@x',
    });
  });

  it('leaves empty cells and nulls out of the record', () => {
    const r = validateRow({ ...base, userDisplayName: '', devicesCount: null, status: 'compliant' });
    assert.ok(r.ok);
    assert.deepEqual(r.record.properties, { status: 'compliant' });
  });

  it('rejects a row with no properties to change', () => {
    const r = validateRow({ ...base, status: '  ' });
    assert.ok(!r.ok);
    assert.match(r.errors[0].reason, /no properties/);
  });

  it('reports every bad column of a row', () => {
    const r = validateRow({
      configurationId: '',
      userStatusId: 'a/b',
      devicesCount: '1.5',
      status: 'green',
      lastReportedDateTime: '2024-01-01T00:00:00',
    });
    assert.ok(!r.ok);
    assert.deepEqual(r.errors.map((e) => e.column).sort(), [
      'configurationId',
      'devicesCount',
      'lastReportedDateTime',
      'status',
      'userStatusId',
    ]);
  });

  it('rejects an unknown configurationType', () => {
    const r = validateRow({ ...base, configurationType: 'deviceConfiguration', status: 'compliant' });
    assert.ok(!r.ok);
    assert.equal(r.errors[0].column, 'configurationType');
  });
});

describe('idProblem', () => {
  for (const bad of ['a/b', 'a?b', 'a#b', 'a%2Fb', 'a b', 'a\tb', 'a\u0000b', '..', 'x..y', 'a\\b', 'x'.repeat(300)]) {
    it(`rejects ${JSON.stringify(bad.slice(0, 20))}`, () => assert.ok(idProblem(bad)));
  }
  it('accepts GUIDs and Intune compound ids', () => {
    assert.equal(idProblem('44960944-0944-4496-4409-964444099644'), undefined);
    assert.equal(idProblem('abc_def-123.4'), undefined);
  });
});

describe('parseDevicesCount', () => {
  it('accepts Int32 bounds and rejects beyond them', () => {
    assert.equal(parseDevicesCount('2147483647'), 2147483647);
    assert.equal(parseDevicesCount(-2147483648), -2147483648);
    assert.equal(typeof parseDevicesCount('2147483648'), 'string');
    assert.equal(typeof parseDevicesCount('1e3'), 'string');
    assert.equal(typeof parseDevicesCount(2.5), 'string');
    assert.equal(typeof parseDevicesCount(true), 'string');
  });
});

describe('dateTimeProblem', () => {
  it('needs a zone and a real date', () => {
    assert.equal(dateTimeProblem('2024-02-29T23:59:59Z'), undefined);
    assert.equal(dateTimeProblem('2024-05-01T10:00:00.1234567+05:30'), undefined);
    assert.ok(dateTimeProblem('2024-05-01T10:00:00'));
    assert.ok(dateTimeProblem('2023-02-29T10:00:00Z'));
    assert.ok(dateTimeProblem('2024-05-01'));
    assert.ok(dateTimeProblem('2024-05-01T10:00:00.12345678Z'));
  });
});

describe('columns', () => {
  it('maps header names that differ in case, spaces and BOM, and the id alias', () => {
    const map = createColumnMapper();
    assert.equal(map('\uFEFF ConfigurationID '), 'configurationId');
    assert.equal(map('id'), 'userStatusId');
    assert.equal(map('colour'), undefined);
  });
  it('refuses a header without a required column, naming it', () => {
    assert.throws(() => resolveHeader(['configurationId', 'status'], createColumnMapper()), /userStatusId.*alias "id"/);
  });
  it('refuses a column given twice', () => {
    assert.throws(() => resolveHeader(['configurationId', 'id', 'Status', 'status '], createColumnMapper()), /appears twice/);
  });
  it('--map renames win and hide the natural column', () => {
    const map = createColumnMapper({ status: 'compliance_state' });
    assert.equal(map('compliance_state'), 'status');
    assert.equal(map('status'), undefined);
  });
  it('id and userStatusId together must agree', () => {
    const map = createColumnMapper();
    assert.equal(toCanonicalFields({ id: 'a', userStatusId: 'a' }, map).errors.length, 0);
    assert.equal(toCanonicalFields({ id: 'a', userStatusId: 'b' }, map).errors.length, 1);
  });
});

describe('payload', () => {
  it('builds one of the two paths, with encoded ids, and only provided properties', () => {
    const record = {
      configurationType: 'iosLobAppProvisioningConfiguration' as const,
      configurationId: 'c:1',
      userStatusId: 'u@x',
      properties: { status: 'compliant' as const },
    };
    assert.equal(patchPath(record), '/deviceAppManagement/iosLobAppProvisioningConfigurations/c%3A1/userStatuses/u%40x');
    assert.deepEqual(patchBody(record), {
      '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus',
      status: 'compliant',
    });
  });
});

describe('fingerprint and version', () => {
  it('fingerprint tells absent from present and is order-free', () => {
    assert.notEqual(fingerprint({ status: 'compliant' }), fingerprint({ status: 'compliant', devicesCount: 0 }));
    assert.equal(fingerprint({ status: 'compliant', devicesCount: 1 }), fingerprint({ devicesCount: 1, status: 'compliant' }));
  });
  it('versions order by instant (across zones and sub-ms digits), then arrival', () => {
    assert.ok(makeVersion('2024-01-01T10:00:00+02:00', 5) < makeVersion('2024-01-01T09:00:00Z', 1));
    assert.ok(makeVersion('2024-01-01T10:00:00.0000001Z', 1) > makeVersion('2024-01-01T10:00:00Z', 9));
    assert.ok(makeVersion('2024-01-01T10:00:00Z', 2) > makeVersion('2024-01-01T10:00:00Z', 1));
    assert.ok(makeVersion(undefined, 99) < makeVersion('1970-01-01T00:00:00Z', 1));
  });
});

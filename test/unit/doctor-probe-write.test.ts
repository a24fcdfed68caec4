import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeProbeWrite, parseProbeWriteTarget, writableValuesOf, type ProbeWriteTarget } from '../../src/cli/doctor-probe-write.js';

const target: ProbeWriteTarget = { configurationType: 'mobileAppConfiguration', configurationId: 'cfg-1', userStatusId: 'user-1' };
const config = { apiVersion: 'beta', cloud: 'global', graphBaseUrl: 'https://graph.microsoft.com' } as const;

describe('doctor --probe-write: parsing', () => {
  it('takes <configurationId>/<userStatusId>, splitting at the first slash', () => {
    assert.deepEqual(parseProbeWriteTarget('cfg-1/user-1'), { configurationId: 'cfg-1', userStatusId: 'user-1' });
  });
  it('refuses a missing half, or an id that could change the request path', () => {
    for (const text of ['cfg-1', '/user-1', 'cfg-1/', 'cfg-1/a/b', '../x', 'cfg/..']) {
      assert.ok('problem' in parseProbeWriteTarget(text), text);
    }
  });
});

describe('doctor --probe-write: what is written back', () => {
  it('is exactly the writable properties Graph holds, leaving out nulls, ids and read-only ones', () => {
    const held = {
      '@odata.type': '#x',
      id: 'user-1',
      userDisplayName: 'Ann',
      devicesCount: 0,
      status: 'compliant',
      lastReportedDateTime: '2026-01-01T00:00:00.0000000Z',
      userPrincipalName: null,
      extra: 1,
    };
    assert.deepEqual(writableValuesOf(held), {
      userDisplayName: 'Ann',
      devicesCount: 0,
      status: 'compliant',
      lastReportedDateTime: '2026-01-01T00:00:00.0000000Z',
    });
  });
});

describe('doctor --probe-write: verdicts', () => {
  it('passes when the write went through, naming what was written', () => {
    const check = judgeProbeWrite({ step: 'done', written: ['status', 'devicesCount'] }, target, config);
    assert.equal(check.result, 'ok');
    assert.equal(check.fix, '');
    assert.match(check.detail, /wrote it back unchanged \(status, devicesCount\): Graph accepts PATCH/);
  });
  it('names a no-route refusal and says what to check', () => {
    const message =
      '400 BadRequest: No OData route exists that match template ' +
      '~/singleton/navigation/key/navigation/key with http verb PATCH for request /x';
    const check = judgeProbeWrite({ step: 'write', status: 400, code: 'BadRequest', message }, target, config);
    assert.equal(check.result, 'fail');
    assert.match(check.detail, /^writing back user status user-1 of mobileAppConfiguration cfg-1 failed: 400 BadRequest: No OData route /);
    assert.match(check.detail, /\(no route: Graph refuses PATCH on this route\)$/);
    assert.match(check.fix, /--probe-type and GRAPH_API_VERSION/);
  });
  it('names a 403 (the permission to grant), a 404 (the ids) and a status Graph does not hold', () => {
    const forbidden = judgeProbeWrite({ step: 'write', status: 403, message: '403 Forbidden: no' }, target, config);
    assert.match(forbidden.detail, /\(403 permission\)$/);
    assert.match(forbidden.fix, /DeviceManagementApps\.ReadWrite\.All/);
    const gone = judgeProbeWrite({ step: 'write', status: 404, message: '404 ResourceNotFound: gone' }, target, config);
    assert.match(gone.detail, /\(404 not found\)$/);
    assert.match(gone.fix, /check both ids/);
    const missing = judgeProbeWrite({ step: 'read', missing: true }, target, config);
    assert.equal(missing.result, 'fail');
    assert.match(
      missing.detail,
      /^Graph holds no user status user-1 of mobileAppConfiguration cfg-1 \(404 on GET\), so nothing was written$/,
    );
  });
});

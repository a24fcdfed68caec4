/**
 * `doctor --probe-write <configurationId>/<userStatusId>` against the simulator: one GET, one PATCH of exactly the values
 * Graph holds, nothing changed; a refusal (no route, 403, 404) fails naming it and the fix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DoctorCheck } from '../../src/interfaces.js';
import { lastJsonLine, runCli, startTestEnv, type TestEnv } from '../support/harness.js';

let t: TestEnv;
// Seeded in Graph's own form (UTC, 7 fraction digits), as a GET answers it: the probe writes back exactly that.
const SEEDED = {
  userDisplayName: 'Seeded user',
  devicesCount: 3,
  status: 'nonCompliant',
  lastReportedDateTime: '2026-01-01T00:00:00.0000000Z',
  userPrincipalName: 'seeded@contoso.example',
};

before(async () => {
  t = await startTestEnv('probe-write', {
    sim: {
      tokens: {
        'sim-token': { tenantId: 'sim-tenant', appId: 'sim-app', permissions: ['DeviceManagementConfiguration.ReadWrite.All'] },
        'read-only': { tenantId: 'sim-tenant', appId: 'reader', permissions: ['DeviceManagementConfiguration.Read.All'] },
      },
    },
  });
});
after(async () => t?.close());

async function probeWrite(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; check?: DoctorCheck; stderr: string }> {
  const out = await runCli(['doctor', '--json', '--probe-write', ...args], { ...t.env, ...env });
  if (out.code === 2) return { code: out.code, stderr: out.stderr };
  const { checks } = lastJsonLine<{ checks: DoctorCheck[] }>(out.stdout);
  return { code: out.code, check: checks.find((c) => c.name === 'graph.probe-write'), stderr: out.stderr };
}

const requests = () => t.sim.requestLog().map((e) => `${e.method} ${e.path} ${e.status}`);

describe('doctor --probe-write', { concurrency: 1 }, () => {
  it('reads the user status and PATCHes back exactly the values it holds: passes, and Graph holds the same as before', async () => {
    t.sim.reset();
    t.sim.drift([{ collection: 'iosLobAppProvisioningConfigurations', configId: 'cfg-w', userStatusId: 'user-w', values: SEEDED }]);
    const before = structuredClone(t.sim.state());
    const { check, stderr } = await probeWrite(['cfg-w/user-w', '--probe-type', 'iosLobAppProvisioningConfiguration']);
    assert.ok(check, stderr);
    assert.equal(check.result, 'ok', check.detail);
    assert.match(
      check.detail,
      /wrote it back unchanged \(userDisplayName, devicesCount, status, lastReportedDateTime, userPrincipalName\): Graph accepts PATCH/,
    );
    assert.deepEqual(t.sim.state(), before, 'no value changed');
    const path = '/beta/deviceAppManagement/iosLobAppProvisioningConfigurations/cfg-w/userStatuses/user-w';
    assert.deepEqual(requests(), [`GET ${path} 200`, `PATCH ${path} 200`]);
    const patch = t.sim.requestLog().find((e) => e.method === 'PATCH')!;
    assert.deepEqual(patch.body, { '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus', ...SEEDED });
  });

  it('fails naming the refusal when Graph has no PATCH route (400 No OData route exists ...), and changes nothing', async () => {
    t.sim.reset();
    t.sim.drift([{ configId: 'cfg-w', userStatusId: 'user-w', values: SEEDED }]);
    const before = structuredClone(t.sim.state());
    t.sim.configure({ refusePatches: true });
    try {
      const { code, check } = await probeWrite(['cfg-w/user-w']);
      assert.equal(code, 1);
      assert.equal(check!.result, 'fail');
      assert.match(
        check!.detail,
        /^writing back user status user-w of mobileAppConfiguration cfg-w failed: 400 BadRequest: No OData route /,
      );
      assert.match(check!.detail, /\(no route: Graph refuses PATCH on this route\)$/);
      assert.match(check!.fix, /--probe-type and GRAPH_API_VERSION/);
      assert.deepEqual(t.sim.state(), before);
    } finally {
      t.sim.configure({ refusePatches: false });
    }
  });

  it('fails naming 404 for a status Graph does not hold, without a PATCH, and 403 for a token without write permission', async () => {
    t.sim.reset();
    const missing = await probeWrite(['cfg-w/nobody']);
    assert.equal(missing.check!.result, 'fail');
    assert.match(missing.check!.detail, /^Graph holds no user status nobody of mobileAppConfiguration cfg-w \(404 on GET\)/);
    assert.deepEqual(requests(), ['GET /beta/deviceAppManagement/mobileAppConfigurations/cfg-w/userStatuses/nobody 404']);

    t.sim.drift([{ configId: 'cfg-w', userStatusId: 'user-w', values: SEEDED }]);
    const before = structuredClone(t.sim.state());
    const denied = await probeWrite(['cfg-w/user-w'], { GRAPH_ACCESS_TOKEN: 'read-only' });
    assert.equal(denied.check!.result, 'fail');
    assert.match(denied.check!.detail, /\(403 permission\)$/);
    assert.match(denied.check!.fix, /grant the app DeviceManagementConfiguration\.ReadWrite\.All/);
    assert.deepEqual(t.sim.state(), before);
    assert.ok(!JSON.stringify(denied.check).includes('read-only'), 'the token is never printed');
  });

  it('refuses a malformed target before any request (exit 2)', async () => {
    t.sim.reset();
    for (const arg of ['cfg-only', 'cfg/..', '/user']) {
      const { code, stderr } = await probeWrite([arg]);
      assert.equal(code, 2, arg);
      assert.match(stderr, /^error: --probe-write: /, arg);
    }
    assert.deepEqual(requests(), []);
  });
});

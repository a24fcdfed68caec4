import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type GraphSimulator } from '../../src/simulator/index.js';
import { BIN, REPO_ROOT, runCli } from '../support/harness.js';
import { signedJwt, unsignedJwt } from '../support/jwt.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const APP = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** The simulator's clock: tokens expire when the test says so. */
const clock = { ms: 1_800_000_000_000, now: () => clock.ms, sleep: async () => undefined };
const nowS = () => Math.floor(clock.ms / 1000);

const claims = (over: Record<string, unknown> = {}) => ({
  aud: 'https://graph.microsoft.us',
  tid: TENANT,
  appid: APP,
  roles: ['DeviceManagementApps.ReadWrite.All'],
  nbf: nowS() - 60,
  exp: nowS() + 3600,
  ...over,
});

let sim: GraphSimulator;
before(async () => {
  sim = await startSimulator({ budget: false, jwtKeys: [publicPem], graphCloud: 'https://graph.microsoft.us' }, clock);
});
after(async () => {
  await sim.close();
});

const url = () => `${sim.url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses/u-1`;
async function patchWith(token: string): Promise<{ status: number; json: any }> {
  const res = await fetch(url(), {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus', status: 'compliant' }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

function seed(tenantId: string): void {
  sim.drift([{ tenantId, collection: 'mobileAppConfigurations', configId: 'cfg-1', userStatusId: 'u-1', values: { status: 'unknown' } }]);
}

function assert401(res: { status: number; json: any }, messagePart: string): void {
  assert.equal(res.status, 401, JSON.stringify(res.json));
  assert.equal(res.json.error.code, 'InvalidAuthenticationToken');
  assert.ok(res.json.error.message.includes(messagePart), res.json.error.message);
}

describe('simulator: JWT access tokens (Graph checks signature, lifetime and audience)', () => {
  it('accepts a JWT signed by a given key for its cloud; the grant is tid, appid and roles', async () => {
    seed(TENANT);
    const res = await patchWith(signedJwt(claims(), keys.privateKey));
    assert.ok(res.status === 200 || res.status === 204, JSON.stringify(res.json));
    const log = sim.requestLog().at(-1)!;
    assert.equal(log.tenantId, TENANT);
    assert.equal(log.appId, APP);
  });

  it('takes the app from azp when appid is absent (v2 tokens)', async () => {
    seed(TENANT);
    const res = await patchWith(signedJwt(claims({ appid: undefined, azp: 'azp-app' }), keys.privateKey));
    assert.ok(res.status === 200 || res.status === 204, JSON.stringify(res.json));
    assert.equal(sim.requestLog().at(-1)!.appId, 'azp-app');
  });

  it('refuses a token for another cloud with 401 InvalidAuthenticationToken', async () => {
    for (const aud of ['https://graph.microsoft.com', 'https://dod-graph.microsoft.us', 'https://microsoftgraph.chinacloudapi.cn']) {
      assert401(await patchWith(signedJwt(claims({ aud }), keys.privateKey)), 'Invalid audience');
    }
  });

  it('refuses an expired token, and one not valid yet, at the simulator clock', async () => {
    const token = signedJwt(claims({ exp: nowS() + 10 }), keys.privateKey);
    seed(TENANT);
    assert.ok([200, 204].includes((await patchWith(token)).status));
    clock.ms += 10_000;
    assert401(await patchWith(token), 'expired');
    assert401(await patchWith(signedJwt(claims({ nbf: nowS() + 60 }), keys.privateKey)), 'not yet valid');
  });

  it('refuses a token signed by another key, an unsigned one, and a tampered one', async () => {
    assert401(await patchWith(signedJwt(claims(), stranger.privateKey)), 'Invalid signature');
    assert401(await patchWith(unsignedJwt(claims())), 'Access token validation failure');
    const good = signedJwt(claims(), keys.privateKey).split('.');
    const forged = Buffer.from(
      JSON.stringify(claims({ roles: ['DeviceManagementApps.ReadWrite.All', 'Directory.ReadWrite.All'] })),
    ).toString('base64url');
    assert401(await patchWith(`${good[0]}.${forged}.${good[2]}`), 'Invalid signature');
  });

  it('gives 403 to a valid token whose roles lack the permission', async () => {
    const res = await patchWith(signedJwt(claims({ roles: ['User.Read.All'] }), keys.privateKey));
    assert.equal(res.status, 403);
    assert.equal(res.json.error.code, 'Forbidden');
  });

  it('keeps accepting its fixed opaque token besides JWTs', async () => {
    sim.drift([{ collection: 'mobileAppConfigurations', configId: 'cfg-1', userStatusId: 'u-1', values: { status: 'unknown' } }]);
    assert.ok([200, 204].includes((await patchWith('sim-token')).status));
  });

  it('refuses an unknown --graph-cloud and a key that is not one', async () => {
    await assert.rejects(startSimulator({ graphCloud: 'https://graph.example.com' }), /graphCloud/);
    await assert.rejects(startSimulator({ jwtKeys: ['not a pem'] }), /jwtKeys/);
  });
});

describe('compliance-sync simulate --jwt-key --graph-cloud', () => {
  it("accepts JWTs signed by the key for the named cloud, refuses another cloud's, and refuses a bad flag with exit 2", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csync-simjwt-'));
    const keyPath = join(dir, 'entra.pub.pem');
    await writeFile(keyPath, publicPem);
    const child = spawn(
      process.execPath,
      [BIN, 'simulate', '--port', '0', '--no-budget', '--jwt-key', keyPath, '--graph-cloud', 'https://microsoftgraph.chinacloudapi.cn'],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`simulate exited ${code}`)));
      });
      const { url } = JSON.parse(first) as { url: string };
      const drift = await fetch(`${url}/_sim/drift`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          changes: [
            {
              tenantId: TENANT,
              collection: 'mobileAppConfigurations',
              configId: 'cfg-1',
              userStatusId: 'u-1',
              values: { status: 'unknown' },
            },
          ],
        }),
      });
      assert.equal(drift.status, 200);
      const send = async (aud: string) => {
        const now = Math.floor(Date.now() / 1000);
        const res = await fetch(`${url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses/u-1`, {
          method: 'PATCH',
          headers: {
            authorization: `Bearer ${signedJwt(claims({ aud, nbf: now - 60, exp: now + 600 }), keys.privateKey)}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ status: 'compliant' }),
        });
        return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
      };
      assert.equal((await send('https://microsoftgraph.chinacloudapi.cn')).status, 200);
      const other = await send('https://graph.microsoft.com');
      assert.equal(other.status, 401);
      assert.equal(other.body.error?.code, 'InvalidAuthenticationToken');
    } finally {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    }
    const bad = await runCli(['simulate', '--port', '0', '--graph-cloud', 'https://graph.example.com'], {});
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /graphCloud/);
    const missing = await runCli(['simulate', '--port', '0', '--jwt-key', '/nonexistent/key.pem'], {});
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--jwt-key \/nonexistent\/key\.pem/);
  });
});

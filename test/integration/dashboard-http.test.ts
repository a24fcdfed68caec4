/**
 * The dashboard over plain HTTP (no browser): the session cookie and its attributes, behind a proxy or not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testEnvs } from '../support/harness.js';
import { API_TOKEN, startTestServer, type TestServer } from '../support/server-helpers.js';

const env = testEnvs();

async function login(server: TestServer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ token: API_TOKEN, next: '/admin/runs' }).toString(),
    redirect: 'manual',
  });
}

/** The session cookie's value out of a Set-Cookie header ("csync_session=<value>; Path=…"). */
const sessionOf = (setCookie: string) => /csync_session=([^;]*)/.exec(setCookie)?.[1] ?? '';

describe('dashboard session cookie', () => {
  it('is HttpOnly, SameSite=Strict and limited to /admin; Secure only behind a proxy SYNC_TRUST_PROXY trusts', async () => {
    const t = await env('dash-cookie');
    const direct = await startTestServer(t);
    const proxied = await startTestServer(t, { env: { SYNC_TRUST_PROXY: '127.0.0.1' } });
    try {
      const plain = await login(direct, { 'x-forwarded-proto': 'https' });
      assert.equal(plain.status, 303);
      const cookie = plain.headers.get('set-cookie')!;
      assert.match(cookie, /^csync_session=[0-9a-f]{64}; Max-Age=43200; Path=\/admin; HttpOnly; SameSite=Strict$/);
      assert.doesNotMatch(cookie, /Secure/, 'an untrusted X-Forwarded-Proto is ignored');

      const behindTls = (await login(proxied, { 'x-forwarded-proto': 'https' })).headers.get('set-cookie')!;
      assert.match(behindTls, /; Secure/);
      assert.doesNotMatch((await login(proxied)).headers.get('set-cookie')!, /Secure/, 'plain http through the proxy');

      // The cookie opens the dashboard, among other cookies; a mangled or foreign one does not.
      const session = sessionOf(cookie);
      const runs = (cookieHeader: string) => fetch(`${direct.url}/admin/runs`, { headers: { cookie: cookieHeader } }).then((r) => r.status);
      assert.equal(await runs(`a=1; csync_session=${session}; b=%E0%A4%A`), 200);
      assert.equal(await runs(`csync_session=${session}0`), 401);
      assert.equal(await runs(`csync_session=%E0%A4%A`), 401);
      assert.equal(await runs(`csync_session_x=${session}`), 401);

      const logout = await fetch(`${direct.url}/admin/logout`, { headers: { cookie: `csync_session=${session}` }, redirect: 'manual' });
      assert.match(logout.headers.get('set-cookie')!, /^csync_session=; Max-Age=0; Path=\/admin; HttpOnly; SameSite=Strict$/);
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});

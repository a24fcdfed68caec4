/**
 * Issue 9, the server side: hostile requests to `serve`. Each test checks the status and message, that nothing was
 * stored or queued under the test's prefix, and that nothing reached the simulator.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pino from 'pino';
import { redisKeys } from '../../src/redis-layout.js';
import { buildServer } from '../../src/server/app.js';
import { ApiTokens } from '../../src/server/auth.js';
import { startTestEnv, type TestEnv, keysOf } from '../support/harness.js';
import { API_TOKEN, authHeaders, postEvents, startTestServer } from '../support/server-helpers.js';

const envs: TestEnv[] = [];
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await Promise.all(envs.map((t) => t.close()));
});
async function env(name: string): Promise<TestEnv> {
  const t = await startTestEnv(name);
  envs.push(t);
  return t;
}

/** Keys under the test's prefix, less the queue metadata BullMQ writes when the server opens the queue (not a run, a row or a job). */
async function runKeysOf(t: TestEnv): Promise<string[]> {
  return (await keysOf(t)).filter((k) => !k.endsWith(':meta'));
}

/** A raw HTTP/1.1 exchange, to trickle a body and see when the server closes the socket. */
async function rawRequest(
  url: string,
  head: string,
  body: string,
): Promise<{ socket: Socket; response: () => string; closed: Promise<number> }> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  let response = '';
  socket.on('data', (d: Buffer) => (response += d.toString()));
  socket.on('error', () => undefined);
  const started = Date.now();
  const closed = once(socket, 'close').then(() => Date.now() - started);
  socket.write(head + body);
  return { socket, response: () => response, closed };
}

describe('hostile requests to serve (issue 9)', { concurrency: 1 }, () => {
  it('refuses events whose ids are made only of dots or hold invisible characters (400), queueing and sending nothing', async () => {
    const t = await env('hxs-dots');
    const server = await startTestServer(t);
    closers.push(() => server.close());
    for (const record of [
      { configurationId: '.', userStatusId: 'u', status: 'compliant' },
      { configurationId: 'c', userStatusId: '.', status: 'compliant' },
      { configurationId: 'c', userStatusId: 'u\u200b', status: 'compliant' },
    ]) {
      const res = await postEvents(server.url, record);
      assert.equal(res.status, 400, JSON.stringify(res.json));
      assert.match(JSON.stringify(res.json.errors), /only of dots|invisible character U\+200B/);
    }
    assert.deepEqual(await runKeysOf(t), []);
    assert.equal(t.sim.counters().requests, 0);
  });

  it('answers 400 for run ids outside the rule on /v1/runs/<id> and /admin/runs/<id>, and lists no phantom run', async () => {
    const t = await env('hxs-runid');
    const server = await startTestServer(t);
    closers.push(() => server.close());
    const accepted = await postEvents(server.url, { configurationId: 'c', userStatusId: 'u', status: 'compliant' });
    assert.equal(accepted.status, 202);
    const runId = accepted.json.runId as string;
    for (const path of [
      `/v1/runs/${runId}:rows`,
      `/v1/runs/${runId}:rows/rows`,
      '/v1/runs/..%2F..',
      `/v1/runs/${'x'.repeat(129)}`,
      `/admin/runs/${runId}:rows`,
    ]) {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      assert.equal(res.status, 400, path);
      assert.match(
        await res.text(),
        /run id .*(may hold only letters, digits and _ \. -|is longer than 128 characters|only of dots)/,
        path,
      );
    }
    // A stray member of P:runs (written by hand, or by an older version) is not shown as a run.
    await t.redis.zadd(redisKeys(t.prefix).runs, Date.now(), `${runId}:rows`);
    const list = await (await fetch(`${server.url}/v1/runs`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json();
    assert.deepEqual(
      list.runs.map((r: { runId: string }) => r.runId),
      [runId],
    );
  });

  it('answers 415 to a text/plain body, as the README promises, and stores nothing', async () => {
    const t = await env('hxs-415');
    const server = await startTestServer(t);
    closers.push(() => server.close());
    const res = await fetch(`${server.url}/v1/user-statuses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'text/plain' },
      body: '{"configurationId":"c","userStatusId":"u","status":"compliant"}',
    });
    assert.equal(res.status, 415);
    assert.match((await res.json()).message, /Unsupported Media Type|text\/plain/i);
    assert.deepEqual(await runKeysOf(t), []);
    assert.equal(t.sim.counters().requests, 0);
  });

  it('closes the socket of a trickled body after the body timeout, and right after a 401', async () => {
    const t = await env('hxs-trickle');
    const redis = new Redis(t.config.redisUrl, { maxRetriesPerRequest: null });
    const app = await buildServer({
      config: t.config,
      redis,
      logger: pino({ level: 'silent' }),
      tokens: new ApiTokens([API_TOKEN]),
      bodyTimeoutMs: 1500,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(async () => {
      await app.close();
      redis.disconnect();
    });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const head = (token: string) =>
      `POST /v1/user-statuses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}` +
      `\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;

    const trickled = await rawRequest(url, head(API_TOKEN), '[');
    const timer = setInterval(() => trickled.socket.write(' '), 200);
    const closedAfter = await trickled.closed;
    clearInterval(timer);
    assert.ok(closedAfter >= 1400 && closedAfter < 6000, `closed after ${closedAfter} ms`);
    assert.match(trickled.response(), /^HTTP\/1\.1 408 /, 'Node answers 408 Request Timeout before closing');

    const refused = await rawRequest(url, head('wrong-token-0123456789'), '[');
    const refusedAfter = await refused.closed;
    assert.match(refused.response(), /^HTTP\/1\.1 401 /);
    assert.match(refused.response(), /connection: close/i);
    assert.ok(refusedAfter < 1400, `a 401 closes at once, not at the body timeout (${refusedAfter} ms)`);
    assert.deepEqual(await runKeysOf(t), []);
    assert.equal(t.sim.counters().requests, 0);
  });

  it('never logs a token sent in the query string', async () => {
    const t = await env('hxs-log');
    let logged = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logged += chunk.toString();
        done();
      },
    });
    const redis = new Redis(t.config.redisUrl, { maxRetriesPerRequest: null });
    const app = await buildServer({ config: t.config, redis, logger: pino({ level: 'info' }, sink), tokens: new ApiTokens([API_TOKEN]) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(async () => {
      await app.close();
      redis.disconnect();
    });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    await fetch(`${url}/v1/runs?token=${API_TOKEN}&access_token=${API_TOKEN}`);
    await fetch(`${url}/admin/runs?token=${API_TOKEN}`);
    await postEvents(url, { configurationId: 'c', userStatusId: 'u', status: 'compliant' }, authHeaders());
    await sleep(100);
    assert.match(logged, /"path":"\/v1\/runs\?\[query removed\]"/);
    assert.match(logged, /"statusCode":401/);
    assert.ok(!logged.includes(API_TOKEN), 'the token appears in the log');
  });
});

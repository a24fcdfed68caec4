/**
 * A worker process holds a bounded number of Redis connections whatever its tenant count (issue 20): one BullMQ
 * Worker per tenant used to hold one blocking connection each (203 connections at 200 tenants).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import type { TokenGrant } from '../../src/simulator/index.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  simKey,
  spawnWorker,
  startTestEnv,
  testCluster,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';

const TENANTS = 200;
const LIMIT = 16;
const WRITE = ['DeviceManagementConfiguration.ReadWrite.All'];
const tenantId = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/** One CLIENT LIST entry: its id and name. */
interface Client {
  id: string;
  name: string;
}

async function clientsOf(node: Redis): Promise<Client[]> {
  const list = (await node.client('LIST')) as string;
  return list
    .trim()
    .split('\n')
    .map((line) => ({ id: /(?:^| )id=(\d+)/.exec(line)?.[1] ?? '', name: /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '' }));
}

/** Every data node the test's client talks to: the one Redis, or each master of the cluster. */
function nodesOf(t: TestEnv): Redis[] {
  return testCluster() ? (t.redis as Cluster).nodes('master') : [t.redis as Redis];
}

describe('a worker process at 200 tenants', () => {
  const title = 'holds at most 16 Redis connections (CLIENT LIST, by name) and sends every tenant’s rows, also rows queued while it waits';
  it(title, async (ctx) => {
    // One Redis of the test's own (not on the cluster run): there, every connection not the test's is the worker's,
    // so an unnamed connection of the worker would be counted too.
    const own = testCluster() ? undefined : await PrivateRedis.start({ args: ['--appendonly', 'no'] });
    const tokens: Record<string, TokenGrant> = { 'sim-token': { tenantId: 'sim-tenant', appId: 'sync-app', permissions: WRITE } };
    for (let i = 1; i <= TENANTS; i++) tokens[`tok-${i}`] = { tenantId: tenantId(i), appId: 'sync-app', permissions: WRITE };
    let t: TestEnv | undefined;
    let worker: ReturnType<typeof spawnWorker> | undefined;
    try {
      t = await startTestEnv('connections', { sim: { tokens }, ...(own ? { redisUrl: own.url } : {}) });
      const tenants: Record<string, unknown> = {};
      for (let i = 1; i <= TENANTS; i++) tenants[tenantId(i)] = { accessToken: `tok-${i}`, graphBaseUrl: t.sim.url, rateLimit: '1000/s' };
      t.env.SYNC_TENANTS_FILE = await writeTemp(t, 'tenants.json', JSON.stringify({ tenants }));

      // Rows for the default tenant and for tenants at the start, the middle and the end of the file.
      const sending = ['', tenantId(1), tenantId(2), tenantId(100), tenantId(199), tenantId(200)];
      const lines: string[] = [];
      sending.forEach((tenant, n) => {
        const rows = validRows(4, { offset: n * 4 });
        seedGraph(t!.sim, rows, { tenantId: tenant === '' ? undefined : tenant });
        lines.push(...rows.map((r) => `${r},${tenant}`));
      });
      const path = await writeTemp(t, 'rows.csv', `${HEADER},tenantId\n${lines.join('\n')}\n`);
      const imported = await runCli(['import', path, '--json'], t.env);
      assert.equal(imported.code, 0, imported.stderr);
      const { runId } = lastJsonLine<{ runId: string }>(imported.stdout);

      worker = spawnWorker(t.env);
      let stderr = '';
      worker.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const status = await waitForRun(t.redis, t.prefix, runId, 120_000);
      assert.equal(status.succeeded, lines.length, stderr);
      const held = new Set(Object.keys(t.sim.state()));
      for (const tenant of sending) {
        const offset = sending.indexOf(tenant) * 4;
        const sent = [0, 1, 2, 3].map((i) => simKey(offset + i)).filter((key) => held.has(tenant === '' ? key : `${tenant}|${key}`));
        assert.equal(sent.length, 4, `tenant ${tenant || '(default)'} holds its rows in the simulator`);
      }

      // Counted once every tenant's worker waits (the rows are done), in every node.
      const name = `compliance-sync:worker:${worker.pid}`;
      const nodes = nodesOf(t);
      const clients = (await Promise.all(nodes.map(clientsOf))).flat();
      // Ours by the name the worker gives them; BullMQ names the scheduled-import worker's after its queue's prefix.
      const base = t.prefix.replace(/[{}]/g, '');
      const workers = clients.filter((c) => c.name === name || c.name.startsWith(`${name}:`) || c.name.includes(base));
      ctx.diagnostic(`the worker's connections: ${workers.length} (${workers.map((c) => c.name).join(', ')})`);
      assert.ok(workers.length >= 2, `the worker's connections are named: ${clients.map((c) => c.name).join(' ')}`);
      assert.ok(workers.length <= LIMIT * nodes.length, `${workers.length} connections: ${workers.map((c) => c.name).join(' ')}`);
      if (own) {
        const mine = new Set([String(await (t.redis as Redis).client('ID'))]);
        const others = clients.filter((c) => !mine.has(c.id));
        const ids = (list: Client[]) => list.map((c) => c.id).sort();
        const names = others.map((c) => c.name).join(' ');
        assert.deepEqual(ids(others), ids(workers), `every other connection is the worker's and named: ${names}`);
        assert.ok(workers.length <= LIMIT, `${workers.length} connections`);
      }

      // Rows queued while every tenant's worker waits: the shared wait wakes the tenants they are for.
      const later = [tenantId(3), tenantId(150), ''];
      const laterLines = later.flatMap((tenant, n) => {
        const rows = validRows(3, { offset: 1000 + n * 3 });
        seedGraph(t!.sim, rows, { tenantId: tenant === '' ? undefined : tenant });
        return rows.map((r) => `${r},${tenant}`);
      });
      const laterPath = await writeTemp(t, 'later.csv', `${HEADER},tenantId\n${laterLines.join('\n')}\n`);
      const queuedLater = await runCli(['import', laterPath, '--json'], t.env);
      assert.equal(queuedLater.code, 0, queuedLater.stderr);
      const laterStatus = await waitForRun(t.redis, t.prefix, lastJsonLine<{ runId: string }>(queuedLater.stdout).runId, 120_000);
      assert.equal(laterStatus.succeeded, laterLines.length, stderr);

      const exited = once(worker, 'exit');
      worker.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, stderr);
    } finally {
      if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      await t?.close();
      await own?.stop();
    }
  });
});

/**
 * Graph refusing every write alike (Intune's `400 No OData route exists that match template ... with http verb PATCH`,
 * its message JSON inside Graph's `message`), against the simulator's refusePatches mode: the refusal breaker blocks the
 * tenant after a bounded number of PATCHes, with no row failed, and `resume` sends every row once Graph accepts.
 * A 400 about one row's own values stays that row's failure.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { PermissionBreaker } from '../../src/pacing/breaker.js';
import { REFUSAL_THRESHOLD } from '../../src/pacing/refusal.js';
import { RefusalBreaker, refusalKeys } from '../../src/pacing/refusal-breaker.js';
import {
  BIN,
  REPO_ROOT,
  runCli,
  seedGraph,
  spawnWorker,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  type TestEnv,
} from '../support/harness.js';
import { assertAllSucceededOnce, queueRows, rowsOf } from './fleet-helpers.js';

/** Collects the alerts POSTed to it. */
async function startWebhook(): Promise<{ url: string; alerts: Array<Record<string, unknown>>; server: Server }> {
  const alerts: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, alerts, server };
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('refused writes', { concurrency: 1 }, () => {
  it(
    '300 rows against refused PATCHes: at most 5 + concurrency PATCHes, the run ' +
      'blocked with 0 failed; `resume` sends all 300 once Graph accepts',
    async () => {
      const webhook = await startWebhook();
      const t: TestEnv = await startTestEnv('refused', { sim: { refusePatches: true }, env: { SYNC_ALERT_WEBHOOK_URL: webhook.url } });
      const workers: PatchWorker[] = [];
      try {
        const rows = 300;
        const concurrency = 10;
        seedGraph(t.sim, validRows(rows));
        const seeded = structuredClone(t.sim.state());
        const runId = await queueRows(t, rows);

        // The real CLI worker: with --until-idle it exits 3 once the tenant is blocked.
        const child = spawnWorker(t.env, ['--until-idle', '--concurrency', String(concurrency)]);
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const [code] = (await once(child, 'exit')) as [number];
        assert.equal(code, 3, stderr);
        assert.match(stderr, /blocked: 400 BadRequest: No OData route exists that match template ~\/singleton\/.* with http verb PATCH/);
        assert.match(stderr, /compliance-sync resume/);

        const refused = t.sim.counters().requests;
        console.log(
          `# refused: ${refused} PATCHes before the tenant was blocked (threshold ${REFUSAL_THRESHOLD}, concurrency ${concurrency})`,
        );
        assert.ok(
          refused >= REFUSAL_THRESHOLD && refused <= REFUSAL_THRESHOLD + concurrency,
          `${refused} PATCHes were sent before the breaker held the tenant`,
        );
        assert.equal(t.sim.counters().byStatus['400'], refused);
        assert.deepEqual(t.sim.state(), seeded, 'nothing was written');

        const status = await runCli(['status', runId, '--json'], t.env);
        assert.equal(status.code, 0, status.stderr);
        const shown = JSON.parse(status.stdout) as {
          state: string;
          failed: number;
          succeeded: number;
          pending: number;
          blockedReason?: string;
          blockedTenants: Array<{ reason: string }>;
        };
        assert.equal(shown.state, 'blocked');
        assert.equal(shown.failed, 0);
        assert.equal(shown.succeeded, 0);
        assert.equal(shown.pending, rows);
        // Graph's own message (Intune's, unwrapped from the JSON in `message`), and what to do.
        assert.match(
          shown.blockedReason!,
          /^400 BadRequest: No OData route exists that match template .* with http verb PATCH for request \/DeviceConfiguration_2411\//,
        );
        assert.match(shown.blockedReason!, /doctor --probe-write/);
        assert.match(shown.blockedTenants[0].reason, /No OData route exists/);
        // Not even briefly failed: every row, the ones that counted toward the breaker included, is queued.
        const states = new Set([...(await rowsOf(t.redis, t.prefix, runId)).values()].map((r) => r.state));
        assert.deepEqual([...states], ['queued']);

        await waitFor('the blocked alert', () => webhook.alerts.some((a) => a.event === 'blocked' && a.runId === runId));

        // Still blocked: a worker started now sends nothing.
        workers.push(await startInProcessWorker(t, { concurrency }));
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(t.sim.counters().requests, refused);

        // Graph accepts the route again (e.g. the app was given the right API version); `resume` releases the tenant.
        t.sim.configure({ refusePatches: false });
        const resumed = await runCli(['resume', runId, '--json'], t.env);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.deepEqual(JSON.parse(resumed.stdout), { runId, requeued: 0 });
        const done = await waitForRun(t.redis, t.prefix, runId, 60_000);
        await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, done, rows);
        assert.equal(done.blockedReason, undefined);
        assert.equal(t.sim.counters().byStatus['200'], rows, 'each row was sent once after resume');
        assert.equal((await new PermissionBreaker(t.redis, t.prefix).state()).tripped, false);
      } finally {
        await Promise.all(workers.map((w) => w.close(5000)));
        await t.close();
        webhook.server.close();
      }
    },
  );

  it("a 400 about a row's own value fails only that row, however many such rows there are", async () => {
    const t = await startTestEnv('refused-own');
    let worker: PatchWorker | undefined;
    try {
      const rows = 30;
      seedGraph(t.sim, validRows(rows));
      // Six 400s, each naming a value of its own (as Graph's validation messages do): more than the threshold, no two alike.
      const names = ['Ann', 'Bob', 'Cleo', 'Dan', 'Eve', 'Fay'];
      for (const name of names) {
        t.sim.injectNext(1, {
          status: 400,
          code: 'BadRequest',
          message:
            `Invalid value "${name}" for property 'userDisplayName' on type ` +
            `'microsoft.graph.managedDeviceMobileAppConfigurationUserStatus'.`,
        });
      }
      const runId = await queueRows(t, rows);
      worker = await startInProcessWorker(t, { concurrency: 4 });
      const done = await waitForRun(t.redis, t.prefix, runId, 60_000);

      assert.equal(done.state, 'completed_with_errors', JSON.stringify(done));
      assert.equal(done.failed, names.length);
      assert.equal(done.succeeded, rows - names.length);
      assert.equal(done.blockedReason, undefined);
      assert.equal((await new PermissionBreaker(t.redis, t.prefix).state()).tripped, false);
      const failed = [...(await rowsOf(t.redis, t.prefix, runId)).values()].filter((r) => r.state === 'failed');
      assert.deepEqual(failed.map((r) => /Invalid value "(\w+)"/.exec(r.reason ?? '')?.[1]).sort(), names);
      for (const row of failed) assert.equal(row.httpStatus, 400);
      // Each failed row was sent once: its 400 was judged without another PATCH.
      assert.equal(t.sim.counters().requests, rows);
    } finally {
      await worker?.close(5000);
      await t.close();
    }
  });

  it(
    'counts in Redis across workers: distinct rows once each, broken by another shape ' +
      'or another answer, tripped at the threshold, released by reset',
    async () => {
      const t = await startTestEnv('refused-count');
      try {
        // Two workers' breakers for one tenant share the count.
        const a = new RefusalBreaker(t.redis, t.prefix);
        const b = new RefusalBreaker(t.redis, t.prefix);
        const keys = refusalKeys(t.prefix, '');
        assert.deepEqual(await a.record('route', 'run:2', 'why'), { outcome: 'counting', rows: 1 });
        assert.deepEqual(await b.record('route', 'run:2', 'why'), { outcome: 'counting', rows: 1 }, 'the same row counts once');
        assert.deepEqual(await b.record('route', 'run:3', 'why'), { outcome: 'counting', rows: 2 });
        // Another shape breaks the run: the rows counted so far were refused for their own reasons.
        assert.deepEqual(await a.record('value "Ann"', 'run:4', 'why'), { outcome: 'counting', rows: 1 });
        assert.deepEqual(await a.view('run:2'), { tripped: false, counting: false, own: true });
        assert.deepEqual(await a.view('run:4'), { tripped: false, counting: true, own: false });
        // So does any other answer (a success, a 404 ...).
        await b.breakRun();
        assert.deepEqual(await a.view('run:4'), { tripped: false, counting: false, own: true });

        for (let line = 10; line < 10 + REFUSAL_THRESHOLD - 1; line++)
          assert.equal((await (line % 2 ? a : b).record('route', `run:${line}`, 'why')).outcome, 'counting');
        assert.deepEqual(await a.record('route', 'run:99', 'Graph refuses the route'), { outcome: 'tripped', rows: REFUSAL_THRESHOLD });
        assert.equal(await t.redis.hget(keys.budget, 'blocked'), '1');
        const state = await new PermissionBreaker(t.redis, t.prefix).state();
        assert.equal(state.tripped, true);
        assert.equal(state.reason, 'Graph refuses the route');
        assert.deepEqual(
          await b.record('route', 'run:100', 'why'),
          { outcome: 'held', rows: 0 },
          'once tripped, later refusals are held, not counted',
        );
        // Nothing breaks a tripped breaker but `resume`.
        await b.breakRun();
        assert.deepEqual(await a.view('run:10'), { tripped: true, counting: true, own: false });

        await new PermissionBreaker(t.redis, t.prefix).reset();
        assert.deepEqual(await a.view('run:10'), { tripped: false, counting: false, own: false }, 'a held row is sent again after resume');
        assert.equal(await t.redis.hget(keys.budget, 'blocked'), null);
      } finally {
        await t.close();
      }
    },
  );

  it(
    '`simulate --refuse-patches` refuses every PATCH as Intune does (JSON inside ' +
      '`message`); POST /_sim/configure switches it at runtime',
    async () => {
      const child = spawn(process.execPath, [BIN, 'simulate', '--port', '0', '--refuse-patches'], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const [first] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
        const { url } = JSON.parse(first) as { url: string };
        const path = `${url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses/user-1`;
        const patch = () =>
          fetch(path, {
            method: 'PATCH',
            headers: { authorization: 'Bearer sim-token', 'content-type': 'application/json' },
            body: JSON.stringify({ '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus', status: 'compliant' }),
          });
        await fetch(`${url}/_sim/drift`, {
          method: 'POST',
          body: JSON.stringify({ changes: [{ configId: 'cfg-1', userStatusId: 'user-1', values: { status: 'unknown' } }] }),
        });

        const refused = await patch();
        assert.equal(refused.status, 400);
        const { error } = (await refused.json()) as { error: { code: string; message: string } };
        assert.equal(error.code, 'BadRequest');
        const inner = JSON.parse(error.message) as Record<string, unknown>;
        assert.deepEqual(Object.keys(inner), [
          '_version',
          'Message',
          'CustomApiErrorPhrase',
          'RetryAfter',
          'ErrorSourceService',
          'HttpHeaders',
        ]);
        // Graph's message, in Graph's order: the template, the internal request path, then the support ids.
        const graphMessage = new RegExp(
          [
            /^No OData route exists that match template ~\/singleton\/navigation\/key\/navigation\/key with http verb PATCH /,
            /for request \/DeviceConfiguration_\d+\/StatelessDeviceConfigurationFEService\/deviceAppManagement\//,
            /mobileAppConfigurations\('cfg-1'\)\/userStatuses\('user-1'\)\. /,
            /- Operation ID \(for customer support\): [0-9a-f-]{36} - Activity ID: [0-9a-f-]{36} - Url: https:\/\/fef\./,
          ]
            .map((part) => part.source)
            .join(''),
        );
        assert.match(inner.Message as string, graphMessage);
        assert.equal(
          ((await (await fetch(`${url}/_sim/state`)).json()) as Record<string, { status: string }>)['mobileAppConfigurations/cfg-1/user-1']
            .status,
          'unknown',
          'nothing applied',
        );

        const configured = await fetch(`${url}/_sim/configure`, { method: 'POST', body: JSON.stringify({ refusePatches: false }) });
        assert.equal(((await configured.json()) as { options: { refusePatches: boolean } }).options.refusePatches, false);
        assert.equal((await patch()).status, 200);
      } finally {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  );
});

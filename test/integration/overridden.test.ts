import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { redisKeys } from '../../src/redis-layout.js';
import {
  BIN,
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  simKey,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';

interface ImportSummary {
  runId: string;
  enqueued: number;
  unchanged: number;
}
interface VerifyJson {
  runId: string;
  checked: number;
  matching: number;
  drifted: number;
  missing: number;
  overridden: number;
}

const N = 30;
/** What the service sets devicesCount to after each PATCH: no validRows row sets 9 (theirs are i % 5). */
const RECOMPUTED = 9;

describe('overridden properties: what Graph sets back itself after our PATCH is not drift, and is not sent forever', () => {
  let t: TestEnv;
  let worker: PatchWorker;
  const rows = validRows(N);
  let path: string;
  const runs: string[] = [];

  async function importRun(file: string, args: string[] = []): Promise<ImportSummary> {
    const res = await runCli(['import', file, '--json', ...args], t.env);
    assert.equal(res.code, 0, res.stderr);
    const summary = lastJsonLine<ImportSummary>(res.stdout);
    await waitForRun(t.redis, t.prefix, summary.runId);
    runs.push(summary.runId);
    return summary;
  }
  async function verify(runId: string): Promise<{ code: number | null; json: VerifyJson }> {
    const res = await runCli(['verify', runId, '--json'], t.env);
    return { code: res.code, json: lastJsonLine<VerifyJson>(res.stdout) };
  }
  const patches = () => t.sim.counters().requests;

  before(async () => {
    // serviceSets is Graph-like, not kinder: Intune recomputes devicesCount from the devices it knows, whatever we wrote.
    t = await startTestEnv('overridden', { sim: { serviceSets: { devicesCount: RECOMPUTED } } });
    seedGraph(t.sim, rows);
    worker = await startInProcessWorker(t);
    path = await writeTemp(t, 'rows.csv', `${HEADER}\n${rows.join('\n')}\n`);
  });
  after(async () => {
    await worker?.close();
    await t?.close();
  });

  it('the simulator option: the PATCH is applied, then the service sets devicesCount itself', async () => {
    const first = await importRun(path);
    assert.equal(first.enqueued, N);
    assert.equal(patches(), N);
    const held = t.sim.state()[simKey(1)];
    assert.equal(held.userDisplayName, 'User 1', 'our write landed');
    assert.equal(held.devicesCount, RECOMPUTED, 'and the service set devicesCount back');
  });

  it('verify, resend, verify: drifted the first time, overridden once Graph set the same value back again; 2 x N PATCHes', async () => {
    const first = await verify(runs[0]);
    assert.equal(first.code, 5);
    assert.deepEqual(first.json, { runId: runs[0], checked: N, matching: 0, drifted: N, missing: 0, overridden: 0 });
    // The same run verified again without a resend in between is still drift: nothing was sent since.
    assert.equal((await verify(runs[0])).json.drifted, N);

    // The resend path: verify made change detection forget the drifted rows, so a plain re-import sends them.
    const resend = await importRun(path);
    assert.equal(resend.enqueued, N);
    assert.equal(patches(), 2 * N);

    const second = await verify(resend.runId);
    assert.equal(second.code, 0, 'overridden is not drift');
    assert.deepEqual(second.json, { runId: resend.runId, checked: N, matching: 0, drifted: 0, missing: 0, overridden: N });
  });

  it('report --state overridden lists each row with the value we sent and what Graph holds', async () => {
    const res = await runCli(['report', runs[1], '--state', 'overridden', '--format', 'ndjson'], t.env);
    assert.equal(res.code, 0, res.stderr);
    const records = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; drift: string; differs: string; sent: string; graph: string });
    assert.equal(records.length, N);
    for (const r of records) {
      const i = Number(/user-(\d+)$/.exec(r.key)![1]);
      assert.deepEqual([r.drift, r.differs], ['overridden', 'devicesCount']);
      assert.equal((JSON.parse(r.sent) as { devicesCount: number }).devicesCount, i % 5);
      assert.equal((JSON.parse(r.graph) as { devicesCount: number }).devicesCount, RECOMPUTED);
    }
    const drifted = await runCli(['report', runs[1], '--state', 'drifted', '--format', 'ndjson'], t.env);
    assert.equal(drifted.stdout.trim(), '', 'none of them is listed as drifted');
  });

  it('later imports send 0 (plain and --reconcile), and their verify exits 0 with every row overridden', async () => {
    const plain = await importRun(path);
    assert.deepEqual([plain.enqueued, plain.unchanged], [0, N]);
    const verified = await verify(plain.runId);
    assert.equal(verified.code, 0);
    assert.deepEqual(verified.json, { runId: plain.runId, checked: N, matching: 0, drifted: 0, missing: 0, overridden: N });

    const reconciled = await importRun(path, ['--reconcile']);
    assert.deepEqual([reconciled.enqueued, reconciled.unchanged], [0, N]);
    const reason = (await runCli(['report', reconciled.runId, '--state', 'unchanged', '--format', 'ndjson'], t.env)).stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { reason: string }).reason);
    assert.equal(reason.length, N);
    assert.match(reason[0], /devicesCount, which Graph sets back itself \(overridden\)/);
    assert.equal(patches(), 2 * N, 'not one more PATCH');
  });

  it('an input that changes devicesCount is sent, and judged afresh (drift until Graph sets it back twice)', async () => {
    const edited = rows.map((line, i) => (i === 5 ? line.replace(',User 5,0,', ',User 5,4,') : line));
    assert.notEqual(edited[5], rows[5]);
    const changed = await importRun(await writeTemp(t, 'changed.csv', `${HEADER}\n${edited.join('\n')}\n`));
    assert.deepEqual([changed.enqueued, changed.unchanged], [1, N - 1]);
    assert.equal(patches(), 2 * N + 1);
    const verified = await verify(changed.runId);
    assert.equal(verified.code, 5);
    assert.deepEqual(verified.json, { runId: changed.runId, checked: N, matching: 0, drifted: 1, missing: 0, overridden: N - 1 });
  });

  it('--full sends every row, overridden or not', async () => {
    const before = patches();
    const full = await importRun(path, ['--full']);
    assert.equal(full.enqueued, N);
    assert.equal(patches(), before + N);
  });

  it('once Graph stops setting it back, the rows match again and their override memory is cleared', async () => {
    assert.equal(await t.redis.hlen(redisKeys(t.prefix).overrides), N, 'one memory per key that differed');
    t.sim.configure({ serviceSets: {} });
    const full = await importRun(path, ['--full']);
    assert.equal(full.enqueued, N);
    const verified = await verify(full.runId);
    assert.equal(verified.code, 0);
    assert.deepEqual(verified.json, { runId: full.runId, checked: N, matching: N, drifted: 0, missing: 0, overridden: 0 });
    assert.equal(await t.redis.hlen(redisKeys(t.prefix).overrides), 0);
  });
});

describe('simulate --service-sets', () => {
  it('the simulator process sets devicesCount itself after each applied PATCH, and answers the PATCH with what was written', async () => {
    const child = spawn(process.execPath, [BIN, 'simulate', '--service-sets', 'devicesCount=3', '--no-budget'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [first] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const { url } = JSON.parse(first) as { url: string };
      const auth = { authorization: 'Bearer sim-token', 'content-type': 'application/json' };
      const seeded = await fetch(`${url}/_sim/drift`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          changes: [
            {
              collection: 'mobileAppConfigurations',
              configId: 'cfg-1',
              userStatusId: 'user-1',
              values: { devicesCount: 0, userDisplayName: 'Seeded' },
            },
          ],
        }),
      });
      assert.equal(seeded.status, 200, await seeded.text());
      const object = `${url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses/user-1`;
      const patched = await fetch(object, {
        method: 'PATCH',
        headers: auth,
        body: JSON.stringify({ devicesCount: 5, userDisplayName: 'Ann' }),
      });
      assert.equal(patched.status, 200, await patched.clone().text());
      assert.equal(((await patched.json()) as { devicesCount: number }).devicesCount, 5);
      const read = (await (await fetch(object, { headers: auth })).json()) as { devicesCount: number; userDisplayName: string };
      assert.deepEqual([read.devicesCount, read.userDisplayName], [3, 'Ann']);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    }
  });
});

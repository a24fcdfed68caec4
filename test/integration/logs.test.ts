/**
 * What an operator reads on stderr: how long sending will take after an import, and the workers' progress,
 * summaries and failure reasons.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { HEADER, runCli, seedGraph, startTestEnv, validRows, writeTemp, type TestEnv } from '../support/harness.js';

const envs: TestEnv[] = [];
after(async () => {
  await Promise.all(envs.map((t) => t.close()));
});

async function env(name: string, options: Parameters<typeof startTestEnv>[1] = {}): Promise<TestEnv> {
  const t = await startTestEnv(name, options);
  envs.push(t);
  return t;
}

describe('logs', () => {
  it('import says on stderr how long sending takes at SYNC_RATE_LIMIT, and keeps stdout to its JSON line', async () => {
    const t = await env('logs-estimate');
    const rows = validRows(30);
    seedGraph(t.sim, rows);
    const path = await writeTemp(t, 'rows.csv', `${HEADER}\n${rows.join('\n')}\n`);
    const imported = await runCli(['import', path, '--json', '--no-progress'], { ...t.env, SYNC_RATE_LIMIT: '10/20s' });
    assert.equal(imported.code, 0, imported.stderr);
    // 30 rows at 10 per 20 s: 60 s.
    assert.match(imported.stderr, /^sending 30 rows takes about 1 min at 10 per 20 s \(SYNC_RATE_LIMIT\)$/m);
    assert.equal(imported.stdout.trim().split('\n').length, 1);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import {
  DEFAULT_TENANT_LABEL,
  OTHER_TENANTS_LABEL,
  tenantLabeller,
  tenantLabelOptions,
  tenantLabels,
} from '../../src/domain/tenant-label.js';
import { ROW_STATES, type RowState } from '../../src/interfaces.js';
import { DEPRECATED_METRICS, rowsReached } from '../../src/server/metrics.js';
import { deprecateHelp } from '../../jobs/process-metrics.js';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const C = '33333333-3333-4333-8333-333333333333';
const HOME = '99999999-9999-4999-8999-999999999999';

describe('tenant label: bounded cardinality', () => {
  it('names the first `limit` tenants of the file by GUID, the default tenant `default`, and sums the rest under `other`', () => {
    const label = tenantLabeller({ configured: [A, B, C], limit: 2 });
    assert.equal(label(''), DEFAULT_TENANT_LABEL);
    assert.equal(label(A), A);
    assert.equal(label(B), B);
    assert.equal(label(C), OTHER_TENANTS_LABEL);
    assert.deepEqual(tenantLabels({ configured: [A, B, C], limit: 2 }), ['default', A, B, 'other']);
  });

  it('follows the file order, not the order tenants are seen, so every process names the same tenants', () => {
    const first = tenantLabeller({ configured: [A, B, C], limit: 1 });
    const seenOtherwise = [C, B, A].map(first);
    assert.deepEqual(seenOtherwise, ['other', 'other', A]);
  });

  it('reads GUIDs in any case and puts AZURE_TENANT_ID under `default`', () => {
    const label = tenantLabeller({ configured: [A], limit: 5, defaultTenantId: HOME });
    assert.equal(label(A.toUpperCase()), A);
    assert.equal(label(HOME.toUpperCase()), 'default');
  });

  it('never echoes a tenant that is not in the file: hostile or mistyped ids all become `other`', () => {
    const label = tenantLabeller({ configured: [A], limit: 5 });
    for (const hostile of ['x"} 1\n# EVIL', 'default', 'other', '../../etc', 'a'.repeat(10_000), '\u0000', B, ` ${A}`]) {
      assert.equal(label(hostile), OTHER_TENANTS_LABEL, JSON.stringify(hostile.slice(0, 20)));
    }
  });

  it('holds at most limit + 2 label values however many tenants there are', () => {
    const many = Array.from({ length: 500 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const label = tenantLabeller({ configured: many, limit: 20 });
    assert.equal(new Set(['', ...many].map(label)).size, 22);
    assert.equal(tenantLabels({ configured: many, limit: 20 }).length, 22);
  });

  it('a limit of 0 (or a nonsense one) names no tenant; no tenants file means the default tenant only', () => {
    for (const limit of [0, -3, 1.5, Number.NaN]) assert.equal(tenantLabeller({ configured: [A], limit })(A), 'other', String(limit));
    assert.deepEqual(tenantLabels({ configured: [], limit: 20 }), ['default']);
    assert.deepEqual(tenantLabels({ configured: [A], limit: 0 }), ['default', 'other']);
  });
});

describe('SYNC_METRICS_TENANTS', () => {
  it('defaults to 20 and takes a whole number from 0 to 1000', () => {
    assert.equal(loadConfig({}).metricsTenantLimit, 20);
    assert.equal(loadConfig({ SYNC_METRICS_TENANTS: '0' }).metricsTenantLimit, 0);
    assert.equal(loadConfig({ SYNC_METRICS_TENANTS: '1000' }).metricsTenantLimit, 1000);
    assert.deepEqual(tenantLabelOptions(loadConfig({ SYNC_METRICS_TENANTS: '3' })), { configured: [], limit: 3 });
  });

  it('refuses anything else, naming the variable', () => {
    for (const bad of ['-1', '1001', '2.5', '1e3', 'ten', '0x10', '5 tenants']) {
      const namesTheVariable = (e: Error) => e instanceof ConfigError && /SYNC_METRICS_TENANTS/.test(e.message);
      assert.throws(() => loadConfig({ SYNC_METRICS_TENANTS: bad }), namesTheVariable, bad);
    }
  });
});

describe('rows reached: a counter that never goes down', () => {
  const zero = Object.fromEntries(ROW_STATES.map((s) => [s, 0])) as Record<RowState, number>;
  it('adds the rows that left a state (a retried failed row still failed once)', () => {
    // 10 rows failed, 4 of them were retried: rows:failed reads 6 now, but 10 rows reached failed.
    const reached = rowsReached({ rows: { ...zero, failed: 6, succeeded: 3, queued: 4 }, rowsLeft: { ...zero, failed: 4 } });
    assert.equal(reached.failed, 10);
    assert.equal(reached.succeeded, 3);
    assert.ok(!('queued' in reached), 'queued is a level: compliance_sync_rows_queued');
  });
  it('never reports a negative total (counters written before an upgrade may read low)', () => {
    assert.equal(rowsReached({ rows: { ...zero, superseded: -2 }, rowsLeft: zero }).superseded, 0);
  });
});

describe('deprecated names', () => {
  it('each deprecated metric names its replacements, which end in _total for totals', () => {
    assert.deepEqual(DEPRECATED_METRICS.compliance_sync_throttled_responses, ['compliance_sync_throttled_responses_total']);
    for (const [old, replacements] of Object.entries(DEPRECATED_METRICS)) {
      assert.ok(replacements.length > 0 && replacements.every((r) => r !== old && r.startsWith(old)), old);
    }
  });
  it('deprecateHelp points each prefixed process metric at its standard name and leaves other lines alone', () => {
    const text = [
      '# HELP compliance_sync_server_process_cpu_seconds_total Total user and system CPU time spent in seconds.',
      '# TYPE compliance_sync_server_process_cpu_seconds_total counter',
      'compliance_sync_server_process_cpu_seconds_total 1.5',
      '# HELP nodejs_version_info Node.js version info.',
      '',
    ].join('\n');
    const out = deprecateHelp(text, 'compliance_sync_server_').split('\n');
    const help = 'Deprecated: use process_cpu_seconds_total. Total user and system CPU time spent in seconds.';
    assert.equal(out[0], `# HELP compliance_sync_server_process_cpu_seconds_total ${help}`);
    assert.deepEqual(out.slice(1), text.split('\n').slice(1));
  });
});

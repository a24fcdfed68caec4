import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphStates, judgeRows, type GraphState } from '../../src/producer/reconcile.js';
import type { UnversionedRow } from '../../src/producer/validate-rows.js';
import type { SnapshotMeta, SnapshotValue } from '../../src/results/snapshots.js';

const A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const GONE = 'cccccccc-0000-4000-8000-00000000000c';
const VALUES = { status: 'compliant' as const, devicesCount: 1 };

function row(line: number, tenantId: string | undefined, userStatusId = 'user-1'): UnversionedRow {
  const record = {
    ...(tenantId ? { tenantId } : {}),
    configurationType: 'mobileAppConfiguration' as const,
    configurationId: 'cfg-1',
    userStatusId,
    properties: VALUES,
  };
  return {
    line,
    key: `${tenantId ? `${tenantId}/` : ''}mobileAppConfiguration/cfg-1/${userStatusId}`,
    record,
    fingerprint: 'f',
    reportedTicks: '1',
  };
}

/** One tenant's Graph as its snapshots hold it: user status id -> values, for configuration mobileAppConfiguration/cfg-1. */
function fakeState(held: Record<string, Record<string, unknown>>) {
  const calls = { configurations: [] as string[], lookups: [] as string[][], pending: [] as number[], missing: [] as string[] };
  const state = {
    configuration: (type: string, id: string): Promise<SnapshotMeta> => {
      calls.configurations.push(`${type}/${id}`);
      return Promise.resolve({ readAt: 0 });
    },
    valuesMany: (lookups: { configKey: string; userStatusIds: string[] }[]): Promise<SnapshotValue[][]> => {
      calls.lookups.push(...lookups.map((l) => l.userStatusIds));
      return Promise.resolve(lookups.map((l) => l.userStatusIds.map((id) => held[id])));
    },
    confirmNulls: (_type: string, _id: string, _rows: unknown[], held: SnapshotValue[]): Promise<SnapshotValue[]> => Promise.resolve(held),
    rememberMissing: (_configKey: string, entries: [string, string][]): Promise<void> => {
      calls.missing.push(...entries.map(([id]) => id));
      return Promise.resolve();
    },
    markPending: (rows: UnversionedRow[]): Promise<void> => {
      calls.pending.push(...rows.map((r) => r.line));
      return Promise.resolve();
    },
  };
  return { state: state as unknown as GraphState, calls };
}

describe('GraphStates: each tenant’s rows judged by its own Graph', () => {
  it('judges the same ids by each tenant’s own state, and leaves a tenant without a state to change detection', async () => {
    const states = {
      '': fakeState({}),
      [A]: fakeState({ 'user-1': VALUES }),
      [B]: fakeState({ 'user-1': { ...VALUES, status: 'error' } }),
    };
    const created: string[] = [];
    const graph = new GraphStates((tenant) => {
      created.push(tenant);
      return (states as Record<string, ReturnType<typeof fakeState>>)[tenant]?.state;
    });
    const rows = [row(2, undefined), row(3, A), row(4, B), row(5, GONE), row(6, A, 'user-2')];
    await judgeRows(graph, rows);
    assert.deepEqual(
      rows.map((r) => r.graph?.verdict),
      ['missingStatus', 'holds', 'differs', undefined, 'missingStatus'],
      'default: its Graph lacks user-1; A holds user-1, lacks user-2; B holds other values; GONE has no Graph to read',
    );
    assert.deepEqual(
      [states[''].calls.missing, states[A].calls.missing, states[B].calls.missing],
      [['user-1'], ['user-2'], []],
      'each tenant remembers what its own Graph lacks',
    );
    assert.deepEqual(states[''].calls.lookups, [['user-1']]);
    assert.deepEqual(states[A].calls.lookups, [['user-1', 'user-2']]);
    assert.deepEqual(states[B].calls.lookups, [['user-1']]);

    await graph.markPending([row(7, A), row(8, B), row(9, GONE), { ...row(10, A), record: undefined }]);
    assert.deepEqual([states[A].calls.pending, states[B].calls.pending, states[''].calls.pending], [[7], [8], []]);
    assert.deepEqual(created.sort(), ['', A, B, GONE].sort(), 'each tenant’s state looked up once, on its first row');
  });

  it('makes no state for a tenant the run has no rows of', async () => {
    const created: string[] = [];
    const graph = new GraphStates((tenant) => {
      created.push(tenant);
      return fakeState({}).state;
    });
    await judgeRows(graph, [row(2, B), row(3, B, 'user-3')]);
    assert.deepEqual(created, [B]);
  });
});

import { fingerprint } from '../domain/fingerprint.js';
import { compareWithGraph, type ComparedProperty } from '../domain/compare.js';
import { judgeOverrides, type OverrideMemory } from '../domain/override.js';
import { CONFIGURATION_TYPES, type ConfigurationType, type RowResult } from '../interfaces.js';
import type { DriftEntry, DriftStore, VerifyCounts } from '../results/drift.js';
import { tenantOfRecordKey, untenantedRecordKey } from '../redis-layout.js';
import { PENDING, type SnapshotValue } from '../results/snapshots.js';
import type { ResultStore } from '../results/store.js';
import type { GraphState, GraphStates } from './reconcile.js';

export interface VerifySummary extends VerifyCounts {
  runId: string;
  overridden: number;
  /** Rows recorded before rows kept their values: they cannot be compared, and are not counted as checked. */
  unverifiable: number;
}

const BATCH = 1000;

interface KeyParts {
  /** '' for the default tenant. */
  tenant: string;
  configurationType: ConfigurationType;
  configurationId: string;
  userStatusId: string;
}

function splitKey(key: string): KeyParts | undefined {
  const [type, configurationId, userStatusId, ...rest] = untenantedRecordKey(key).split('/');
  if (rest.length > 0 || !(CONFIGURATION_TYPES as readonly string[]).includes(type) || !configurationId || !userStatusId) return undefined;
  return { tenant: tenantOfRecordKey(key), configurationType: type as ConfigurationType, configurationId, userStatusId };
}

/** A configuration of one tenant: the same configuration id in two tenants is two objects, read from two Graphs. */
const tenantConfigKey = (p: KeyParts) => `${p.tenant}|${p.configurationType}/${p.configurationId}`;

/**
 * Reads Graph back (each configuration of the run once, now) and compares every succeeded and unchanged row
 * with what Graph holds. What differs is stored per run for `report --state drifted|missing|overridden`. A row that
 * drifted or is missing is forgotten by the change-detection memory, so the next import sends it again; a row that
 * differs only in properties Graph sets back itself (judgeOverrides) is overridden: not drift, and not sent again.
 */
export async function verifyRun(store: ResultStore, drift: DriftStore, graph: GraphStates, runId: string): Promise<VerifySummary> {
  const states = ['succeeded', 'unchanged'] as const;
  // First pass: which configurations of which tenants, so each is read once, whatever order the rows come in.
  const configs = new Map<string, KeyParts & { state: GraphState }>();
  for await (const row of store.iterateRows(runId, states)) {
    const parts = splitKey(row.key);
    // A tenant no longer in SYNC_TENANTS_FILE has no Graph to read: its rows are counted unverifiable below.
    const state = parts && graph.of(parts.tenant);
    if (parts && state) configs.set(tenantConfigKey(parts), { ...parts, state });
  }
  for (const c of configs.values()) await c.state.configuration(c.configurationType, c.configurationId);

  await drift.start(runId);
  // Matching rows clear their key's override memory; with none at all (the usual case) there is nothing to clear.
  const clearMatched = await drift.overrides.any();
  const summary: VerifySummary = { runId, checked: 0, matching: 0, drifted: 0, missing: 0, overridden: 0, unverifiable: 0 };
  let batch: RowResult[] = [];
  const flush = async () => {
    const found: DriftEntry[] = [];
    const forget: [string, string][] = [];
    const byConfig = new Map<string, { rows: RowResult[]; ids: string[] }>();
    for (const row of batch) {
      const parts = splitKey(row.key);
      if (!parts || !row.values || !configs.has(tenantConfigKey(parts))) {
        summary.unverifiable++;
        continue;
      }
      const configKey = tenantConfigKey(parts);
      let group = byConfig.get(configKey);
      if (!group) byConfig.set(configKey, (group = { rows: [], ids: [] }));
      group.rows.push(row);
      group.ids.push(parts.userStatusId);
    }
    const groups = [...byConfig.entries()].map(([key, group]) => ({ ...group, config: configs.get(key)! }));
    const metas = await Promise.all(
      groups.map(({ config }) => config.state.configuration(config.configurationType, config.configurationId)),
    );
    // Each tenant's snapshots are looked up through its own state (its own keys), one round trip per tenant.
    const heldByGroup = new Map<number, SnapshotValue[]>();
    const byState = new Map<GraphState, { configKey: string; userStatusIds: string[]; g: number }[]>();
    groups.forEach(({ config, ids }, g) => {
      if (metas[g].missing !== undefined) return;
      let listed = byState.get(config.state);
      if (!listed) byState.set(config.state, (listed = []));
      listed.push({ configKey: `${config.configurationType}/${config.configurationId}`, userStatusIds: ids, g });
    });
    await Promise.all(
      [...byState].map(async ([state, listed]) => {
        const found = await state.valuesMany(listed);
        listed.forEach((l, k) => heldByGroup.set(l.g, found[k]));
      }),
    );
    // Nulls in the listing for a property the row sets are confirmed with a GET of that status before it is judged.
    await Promise.all(
      [...heldByGroup].map(async ([g, held]) => {
        const { config, rows, ids } = groups[g];
        const statuses = rows.map((row, i) => ({ userStatusId: ids[i], properties: row.values! }));
        heldByGroup.set(g, await config.state.confirmNulls(config.configurationType, config.configurationId, statuses, held));
      }),
    );
    // Rows that differ are judged once their override memory is read (one round trip per batch); rows that match
    // clear it: Graph no longer sets anything back for them.
    const differing: { row: RowResult; graph: Record<string, unknown>; properties: ComparedProperty[]; readAt: number }[] = [];
    const matched: string[] = [];
    const forgetRow = (row: RowResult) =>
      forget.push([row.key, row.fingerprint && row.version ? `${row.fingerprint}|${row.version}` : `${fingerprint(row.values!)}|`]);
    for (const [g, group] of groups.entries()) {
      const meta = metas[g];
      const held = heldByGroup.get(g) ?? group.ids.map(() => undefined);
      group.rows.forEach((row, i) => {
        const graph = held[i];
        // An import marked it as being written since this verify read Graph: this read cannot judge it.
        if (graph === PENDING) {
          summary.unverifiable++;
          return;
        }
        summary.checked++;
        const comparison = compareWithGraph(row.values!, graph);
        if (comparison.kind === 'equal') {
          summary.matching++;
          matched.push(row.key);
          return;
        }
        if (comparison.kind === 'differs') {
          differing.push({ row, graph: graph!, properties: comparison.properties, readAt: meta.readAt });
          return;
        }
        summary.missing++;
        // Rows stored compactly (succeeded, unchanged) keep their values, not their fingerprint and version: then any
        // memory of exactly these values is forgotten, whichever PATCH or snapshot recorded it.
        forgetRow(row);
        found.push({ line: row.line, kind: 'missing', key: row.key, sent: row.values!, graph: null, properties: [], readAt: meta.readAt });
      });
    }
    const memories = await drift.overrides.readMany(differing.map((d) => d.row.key));
    const remember: [string, OverrideMemory | undefined][] = clearMatched ? matched.map((key) => [key, undefined]) : [];
    differing.forEach(({ row, graph, properties, readAt }, k) => {
      const judged = judgeOverrides(
        { values: row.values!, state: row.state, finishedAt: row.finishedAt },
        properties,
        graph,
        readAt,
        memories[k],
      );
      remember.push([row.key, judged.memory]);
      const entry = { line: row.line, key: row.key, sent: row.values!, graph, readAt };
      if (judged.drifted.length === 0) {
        // Graph sets these back whatever we send: the row is not sent again for them (its fingerprint stays).
        summary.overridden++;
        found.push({ ...entry, kind: 'overridden', properties: judged.overridden });
        return;
      }
      summary.drifted++;
      forgetRow(row);
      found.push({
        ...entry,
        kind: 'drifted',
        properties: judged.drifted,
        ...(judged.overridden.length > 0 ? { overridden: judged.overridden } : {}),
      });
    });
    await drift.add(runId, found);
    await drift.forgetFingerprints(forget);
    await drift.overrides.write(remember);
    batch = [];
  };
  for await (const row of store.iterateRows(runId, states)) {
    batch.push(row);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  await drift.finish(runId, summary);
  return summary;
}

import { fingerprint } from '../domain/fingerprint.js';
import { compareWithGraph } from '../domain/compare.js';
import { CONFIGURATION_TYPES, type ConfigurationType, type RowResult } from '../interfaces.js';
import type { DriftEntry, DriftStore, VerifyCounts } from '../results/drift.js';
import { PENDING } from '../results/snapshots.js';
import type { ResultStore } from '../results/store.js';
import type { GraphState } from './reconcile.js';

export interface VerifySummary extends VerifyCounts {
  runId: string;
  /** Rows recorded before rows kept their values: they cannot be compared, and are not counted as checked. */
  unverifiable: number;
}

const BATCH = 1000;

function splitKey(key: string): { configurationType: ConfigurationType; configurationId: string; userStatusId: string } | undefined {
  const [type, configurationId, userStatusId, ...rest] = key.split('/');
  if (rest.length > 0 || !(CONFIGURATION_TYPES as readonly string[]).includes(type) || !configurationId || !userStatusId) return undefined;
  return { configurationType: type as ConfigurationType, configurationId, userStatusId };
}

/**
 * Reads Graph back (each configuration of the run once, now) and compares every succeeded and unchanged row
 * with what Graph holds. What differs is stored per run for `report --state drifted|missing`, and forgotten by
 * the change-detection memory, so the next import sends it again.
 */
export async function verifyRun(store: ResultStore, drift: DriftStore, state: GraphState, runId: string): Promise<VerifySummary> {
  const states = ['succeeded', 'unchanged'] as const;
  // First pass: which configurations, so each is read once, whatever order the rows come in.
  const configs = new Map<string, { configurationType: ConfigurationType; configurationId: string }>();
  for await (const row of store.iterateRows(runId, states)) {
    const parts = splitKey(row.key);
    if (parts) configs.set(`${parts.configurationType}/${parts.configurationId}`, parts);
  }
  for (const c of configs.values()) await state.configuration(c.configurationType, c.configurationId);

  await drift.start(runId);
  const summary: VerifySummary = { runId, checked: 0, matching: 0, drifted: 0, missing: 0, unverifiable: 0 };
  let batch: RowResult[] = [];
  const flush = async () => {
    const found: DriftEntry[] = [];
    const forget: [string, string][] = [];
    const byConfig = new Map<string, { rows: RowResult[]; ids: string[] }>();
    for (const row of batch) {
      const parts = splitKey(row.key);
      if (!parts || !row.values) {
        summary.unverifiable++;
        continue;
      }
      const configKey = `${parts.configurationType}/${parts.configurationId}`;
      let group = byConfig.get(configKey);
      if (!group) byConfig.set(configKey, (group = { rows: [], ids: [] }));
      group.rows.push(row);
      group.ids.push(parts.userStatusId);
    }
    const groups = [...byConfig.entries()];
    const metas = await Promise.all(groups.map(([configKey]) => state.configuration(configs.get(configKey)!.configurationType, configs.get(configKey)!.configurationId)));
    const listed = groups.flatMap(([configKey, group], g) => (metas[g].missing === undefined ? [{ configKey, userStatusIds: group.ids, g }] : []));
    const values = await state.valuesMany(listed);
    const heldByGroup = new Map(listed.map((l, k) => [l.g, values[k]]));
    for (const [g, [, group]] of groups.entries()) {
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
          return;
        }
        if (comparison.kind === 'missing') summary.missing++;
        else summary.drifted++;
        // Rows stored compactly (succeeded, unchanged) keep their values, not their fingerprint and version: then any
        // memory of exactly these values is forgotten, whichever PATCH or snapshot recorded it.
        forget.push([row.key, row.fingerprint && row.version ? `${row.fingerprint}|${row.version}` : `${fingerprint(row.values!)}|`]);
        found.push({ line: row.line, kind: comparison.kind === 'missing' ? 'missing' : 'drifted', key: row.key, sent: row.values!, graph: graph ?? null, properties: comparison.kind === 'differs' ? comparison.properties : [], readAt: meta.readAt });
      });
    }
    await drift.add(runId, found);
    await drift.forgetFingerprints(forget);
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

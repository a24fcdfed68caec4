import { tenantIdOf } from '../redis-layout.js';
import type { MissingStatuses } from '../results/missing-statuses.js';
import { missingStatusReason } from './reconcile.js';
import type { UnversionedRow } from './validate-rows.js';

/**
 * For a plain import (without --reconcile): fails at admission, without a PATCH, the rows whose user status (or whole
 * configuration) is remembered as missing from Graph (P:missing, src/results/missing-statuses.ts). PATCH cannot create
 * them; sending them again would only be answered 404. `import --reconcile` sends them once Graph lists them.
 *
 * Which configurations have a memory is asked once per import (one round trip for the configurations a chunk brings
 * first), so an import whose configurations have none costs no lookup per chunk.
 */
export class RememberedMissingJudge {
  /** `<tenant>|<configKey>` -> whether anything is remembered of it. */
  private readonly known = new Map<string, boolean>();

  constructor(private readonly memory: MissingStatuses) {}

  async judge(rows: UnversionedRow[]): Promise<void> {
    const groups = new Map<string, { tenant: string; configKey: string; rows: UnversionedRow[] }>();
    for (const row of rows) {
      if (!row.record || row.graph) continue;
      const tenant = tenantIdOf(row.record);
      const configKey = `${row.record.configurationType}/${row.record.configurationId}`;
      const id = `${tenant}|${configKey}`;
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { tenant, configKey, rows: [] }));
      group.rows.push(row);
    }
    const unknown = [...groups.keys()].filter((id) => !this.known.has(id));
    const exist = await this.memory.exist(unknown.map((id) => groups.get(id)!));
    unknown.forEach((id, i) => this.known.set(id, exist[i]));
    const remembered = [...groups].filter(([id]) => this.known.get(id)).map(([, group]) => group);
    const found = await this.memory.lookup(
      remembered.map((g) => ({ tenant: g.tenant, configKey: g.configKey, userStatusIds: g.rows.map((r) => r.record!.userStatusId) })),
    );
    remembered.forEach((group, g) => {
      const { configuration, statuses } = found[g];
      group.rows.forEach((row, i) => {
        if (configuration !== undefined) {
          row.graph = {
            verdict: 'missingConfiguration',
            reason: `not sent: Graph has no such configuration (${configuration}); import --reconcile reads it again`,
          };
        } else if (statuses[i] !== undefined) {
          row.graph = { verdict: 'missingStatus', reason: missingStatusReason(statuses[i]) };
        }
      });
    });
  }
}

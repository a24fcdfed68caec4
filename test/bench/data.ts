/**
 * Deterministic bench input: realistic rows (GUID ids, names, UPNs; ~165 bytes per CSV line) that can be
 * rebuilt from their index alone, so a bench can check the simulator's final state without keeping the file in memory.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { PatchJobData } from '../../src/interfaces.js';
import { PRE_IMPORT_VALUES, type DriftChange, type GraphSimulator } from '../../src/simulator/index.js';

export const DATA_DIR = fileURLToPath(new URL('./.data/', import.meta.url));
/** Part of every file name: bump it when benchRow changes, so files written by an older generator are not reused. */
const DATA_VERSION = 1;
export const HEADER =
  'configurationId,userStatusId,configurationType,userDisplayName,devicesCount,status,lastReportedDateTime,userPrincipalName';

const STATUSES = ['compliant', 'nonCompliant', 'remediated', 'error', 'conflict', 'notApplicable', 'unknown', 'notAssigned'];
const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Linus'];
const LAST = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Hamilton',
  'Ritchie',
  'Perlman',
  'Torvalds',
];
const CONFIGURATIONS = 40;

/** A GUID-shaped id that depends only on (seed, n): cheap, unique per n, stable across runs. */
function pseudoGuid(seed: number, n: number): string {
  const a = (Math.imul(n ^ seed, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0');
  const b = (Math.imul(n + seed, 0x85ebca6b) >>> 0).toString(16).padStart(8, '0');
  const c = n.toString(16).padStart(12, '0');
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-a${seed.toString(16).padStart(3, '0').slice(-3)}-${c}`;
}

export interface BenchRow {
  configurationType: 'mobileAppConfiguration' | 'iosLobAppProvisioningConfiguration';
  configurationId: string;
  userStatusId: string;
  userDisplayName: string;
  devicesCount: number;
  status: string;
  lastReportedDateTime: string;
  userPrincipalName: string;
}

/** Row `i` as reported on `day` (of November 2026); `changed` gives it another status and device count. */
export function benchRow(i: number, day = 20, changed = false): BenchRow {
  const first = FIRST[i % FIRST.length];
  const last = LAST[Math.floor(i / FIRST.length) % LAST.length];
  const shift = changed ? 3 : 0;
  return {
    configurationType: i % 4 === 0 ? 'iosLobAppProvisioningConfiguration' : 'mobileAppConfiguration',
    configurationId: pseudoGuid(0x51c, i % CONFIGURATIONS),
    userStatusId: pseudoGuid(0xa7, i),
    userDisplayName: `${first} ${last}`,
    devicesCount: (i + shift) % 5,
    status: STATUSES[(i + shift) % STATUSES.length],
    lastReportedDateTime:
      `2026-11-${String(day).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}` +
      `:${String(i % 60).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}Z`,
    userPrincipalName: `${first.toLowerCase()}.${last.toLowerCase()}${i}@contoso.com`,
  };
}

/**
 * Seeds the user statuses rows 0..count-1 name, as a tenant holds them before a first sync: Graph's PATCH updates and
 * never creates, so a bench seeds the simulator before it sends.
 */
export function seedBenchRows(
  sim: Pick<GraphSimulator, 'drift'>,
  count: number,
  rowAt: (i: number) => BenchRow = (i) => benchRow(i),
  tenantId?: string,
): void {
  const changes: DriftChange[] = [];
  for (let i = 0; i < count; i++) {
    const [collection, configId, userStatusId] = simulatorKey(rowAt(i)).split('/') as [DriftChange['collection'], string, string];
    changes.push({ tenantId, collection, configId, userStatusId, values: { ...PRE_IMPORT_VALUES } });
  }
  sim.drift(changes);
}

export function csvLine(r: BenchRow): string {
  return (
    `${r.configurationId},${r.userStatusId},${r.configurationType}` +
    `,${r.userDisplayName},${r.devicesCount},${r.status},${r.lastReportedDateTime}` +
    `,${r.userPrincipalName}`
  );
}

/** The simulator's state key for a row. */
export function simulatorKey(r: BenchRow): string {
  const collection =
    r.configurationType === 'iosLobAppProvisioningConfiguration' ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations';
  return `${collection}/${r.configurationId}/${r.userStatusId}`;
}

/** Whether the simulator holds exactly this row's values (a row "lost" is missing or holds other values). */
export function simulatorHolds(state: Record<string, Record<string, unknown>>, r: BenchRow): boolean {
  const stored = state[simulatorKey(r)];
  return (
    stored !== undefined &&
    stored.userDisplayName === r.userDisplayName &&
    stored.devicesCount === r.devicesCount &&
    stored.status === r.status &&
    // Graph answers dates in UTC with seven fraction digits: the same instant, not the same string.
    typeof stored.lastReportedDateTime === 'string' &&
    Date.parse(stored.lastReportedDateTime) === Date.parse(r.lastReportedDateTime) &&
    stored.userPrincipalName === r.userPrincipalName
  );
}

export interface FileSpec {
  name: string;
  rows: number;
  /** Row i of this file: its day and whether it is changed. */
  rowAt?: (i: number) => BenchRow;
}

/** Writes the file once (streamed, with back-pressure) and reuses it while its size says it is complete. */
export async function ensureCsv(spec: FileSpec): Promise<{ path: string; bytes: number }> {
  const path = join(DATA_DIR, `${spec.name}-${spec.rows}-v${DATA_VERSION}.csv`);
  const marker = `${path}.complete`;
  try {
    const [file, done] = await Promise.all([stat(path), stat(marker)]);
    if (done.isFile()) return { path, bytes: file.size };
  } catch {
    // not there yet
  }
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const rowAt = spec.rowAt ?? ((i: number) => benchRow(i));
  let buffer = `${HEADER}\n`;
  for (let i = 0; i < spec.rows; i++) {
    buffer += `${csvLine(rowAt(i))}\n`;
    if (buffer.length > 256 * 1024) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
  await writeFile(marker, '');
  return { path, bytes: (await stat(path)).size };
}

/** A patch job of row `i`, shaped and sized as an imported row's, for benches that fill a queue without an import. */
export function benchJob(i: number, runId: string, enqueuedAt = Date.now()) {
  const r = benchRow(i);
  const line = i + 2;
  const data: PatchJobData = {
    runId,
    line,
    key: `${r.configurationType}/${r.configurationId}/${r.userStatusId}`,
    record: {
      configurationType: r.configurationType,
      configurationId: r.configurationId,
      userStatusId: r.userStatusId,
      properties: {
        userDisplayName: r.userDisplayName,
        devicesCount: r.devicesCount,
        status: r.status as 'compliant',
        lastReportedDateTime: r.lastReportedDateTime,
        userPrincipalName: r.userPrincipalName,
      },
    },
    fingerprint: 'Qm9vdHN0cmFwRmluZ2VycHI',
    version: `00000639012345678900000:${String(i + 1).padStart(16, '0')}`,
    enqueuedAt,
    generation: 0,
    origin: 'bulk',
  };
  return { name: 'patch', data, opts: { jobId: `${runId}:${line}:0` } };
}

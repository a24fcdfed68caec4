/**
 * Memory bench (issue 10): Redis bytes per queued, finished and unchanged row; peak Redis memory of a first import
 * against BullMQ's bare addBulk; what an unchanged re-import leaves once its run has finished; and a soak of daily
 * cycles with retention, whose used_memory must be flat. Every figure comes from a private redis-server started for
 * it (no other traffic, `used_memory_peak` from a fresh start), so the shared Redis's load never shows up in it.
 */
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import type { PatchJobData } from '../../src/interfaces.js';
import { createLogger } from '../../src/logger.js';
import { importRun } from '../../src/producer/import-run.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { QUEUE_NAMES, jobIdFor, redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { buildServer } from '../../src/server/app.js';
import { ApiTokens } from '../../src/server/auth.js';
import { readCsv } from '../../src/sources/csv.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { ensureCsv, HEADER } from './data.js';
import { assertExit, cliArgs, deletePrefix, fmtInt, fmtSeconds, lastJson, log, markdownTable, runNode, sleep } from './support.js';

export interface MemoryOptions {
  rows: number;
  chunkSize: number;
  soakRows: number;
  soakCycles: number;
  soakEvents: number;
  soakRetentionCycles: number;
  soakCycleMs: number;
}

const PREFIX = 'bench-memory';

async function memoryInfo(redis: Redis): Promise<{ used: number; peak: number }> {
  const info = await redis.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { used: field('used_memory'), peak: field('used_memory_peak') };
}

async function keyBytes(redis: Redis, key: string): Promise<number> {
  return Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

const fmtBytes = (n: number) => `${Math.round(n).toLocaleString('en-US')} B`;
const fmtMiB = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/**
 * Finishes every waiting row of a run as a worker does after a 200, without sending: the job's own data goes through
 * recordOutcome-5.lua (the worker's script) with a request id and a body shaped like Graph's answer, then the queue's
 * jobs are deleted (BullMQ drops each completed job anyway). The run ends, and starts to expire.
 */
async function finishQueuedRows(redis: Redis, store: ResultStore, prefix: string, runId: string): Promise<number> {
  let finished = 0;
  let batch: { line: number; generation: number }[] = [];
  const flush = async () => {
    const pipeline = redis.pipeline();
    for (const b of batch) pipeline.hget(`${prefix}:${QUEUE_NAMES.patch}:${jobIdFor(runId, b.line, b.generation)}`, 'data');
    const datas = ((await pipeline.exec()) ?? []).map(([, d]) => JSON.parse(d as string) as PatchJobData);
    await Promise.all(
      datas.map((data) =>
        store.recordOutcome(
          runId,
          {
            line: data.line,
            key: data.key,
            state: 'succeeded',
            httpStatus: 200,
            attempts: 1,
            requestId: `${data.line.toString(16).padStart(8, '0')}-4d3c-4b2a-9f1e-0123456789ab`,
            response: {
              '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus',
              id: data.record.userStatusId,
              ...data.record.properties,
            },
            fingerprint: data.fingerprint,
            version: data.version,
            generation: data.generation,
            startedAt: Date.now(),
            finishedAt: Date.now(),
          },
          jobIdFor(runId, data.line, data.generation),
        ),
      ),
    );
    finished += datas.length;
    batch = [];
  };
  for await (const row of store.iterateRows(runId, ['queued'], 5000)) {
    batch.push({ line: row.line, generation: row.generation ?? 0 });
    if (batch.length >= 2000) await flush();
  }
  if (batch.length > 0) await flush();
  return finished;
}

async function withRedis<T>(fn: (server: PrivateRedis, redis: Redis) => Promise<T>): Promise<T> {
  const server = await startPrivateRedis(['--maxmemory-policy', 'noeviction']);
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  try {
    return await fn(server, redis);
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

export async function memoryBench(options: MemoryOptions): Promise<string> {
  const { path } = await ensureCsv({ name: 'producer', rows: options.rows });
  const n = options.rows;
  const chunk = String(options.chunkSize);

  // (a) first import, (b) its rows finished, (c) the same file again, all unchanged: one fresh Redis.
  const rowFigures = await withRedis(async (server, redis) => {
    const before = await memoryInfo(redis);
    log(`memory: first import of ${fmtInt(n)} rows into a fresh redis-server...`);
    const env = { REDIS_URL: server.url, SYNC_PREFIX: PREFIX };
    const first = await runNode(cliArgs('import', path, '--json', '--no-progress', '--chunk-size', chunk), { env, timeoutMs: 60 * 60_000 });
    assertExit(first, 'first import');
    const runId = lastJson<{ runId: string }>(first).runId;
    const queued = await memoryInfo(redis);
    const keys = redisKeys(PREFIX);
    const queuedRecordBytes = await keyBytes(redis, keys.rows(runId));
    const latestBytes = await keyBytes(redis, keys.latest);

    log('memory: finishing every row through recordOutcome-5.lua (as a worker after a 200), dropping the jobs...');
    const store = new ResultStore(redis, PREFIX);
    const finishedCount = await finishQueuedRows(redis, store, PREFIX, runId);
    if (finishedCount !== n) throw new Error(`finished ${finishedCount} of ${n} rows`);
    await deletePrefix(redis, `${PREFIX}:${QUEUE_NAMES.patch}`);
    const status = await store.status(runId);
    if (status?.state !== 'completed') throw new Error(`run ${runId} is ${status?.state}, expected completed`);
    const finished = await memoryInfo(redis);
    const finishedRecordBytes = await keyBytes(redis, keys.rows(runId));
    const changeDetectionBytes = (await keyBytes(redis, keys.latest)) + (await keyBytes(redis, keys.fingerprints));

    log('memory: unchanged re-import...');
    const second = await runNode(cliArgs('import', path, '--json', '--no-progress', '--chunk-size', chunk), {
      env,
      timeoutMs: 60 * 60_000,
    });
    assertExit(second, 're-import');
    const again = lastJson<{ runId: string; unchanged: number }>(second);
    if (again.unchanged !== n) throw new Error(`re-import: ${again.unchanged} of ${n} unchanged`);
    const againStatus = await store.status(again.runId);
    if (againStatus?.state !== 'completed') throw new Error(`unchanged run is ${againStatus?.state}`);
    const unchanged = await memoryInfo(redis);
    const unchangedRunBytes =
      (await keyBytes(redis, keys.run(again.runId))) +
      (await keyBytes(redis, keys.unchanged(again.runId))) +
      (await keyBytes(redis, keys.rowKeys(again.runId)));
    return {
      importWallMs: first.wallMs,
      importPeakAdded: queued.peak - before.used,
      queuedPerRow: (queued.used - before.used) / n,
      queuedRecordPerRow: queuedRecordBytes / n,
      latestPerRow: latestBytes / n,
      finishedPerRow: (finished.used - before.used) / n,
      finishedRecordPerRow: finishedRecordBytes / n,
      changeDetectionPerRow: changeDetectionBytes / n,
      unchangedAdded: unchanged.used - finished.used,
      unchangedRunBytes,
    };
  });

  // (d) BullMQ's bare addBulk of the same rows: the ceiling, on its own fresh Redis.
  const bulk = await withRedis(async (server, redis) => {
    const before = await memoryInfo(redis);
    log(`memory: bare addBulk of ${fmtInt(n)} jobs into a fresh redis-server...`);
    const run = await runNode(['test/bench/steps/addbulk-ceiling.ts', String(n), chunk], {
      env: { REDIS_URL: server.url, SYNC_PREFIX: PREFIX },
      timeoutMs: 60 * 60_000,
    });
    assertExit(run, 'addBulk');
    const after = await memoryInfo(redis);
    return { peakAdded: after.peak - before.used, perJob: (after.used - before.used) / n };
  });

  const soak = await soakBench(options);

  const peakRatio = rowFigures.importPeakAdded / bulk.peakAdded;
  const unchangedTarget = (50 * 1048576 * n) / 1_000_000;
  const perRow = markdownTable(
    ['Row', 'Redis bytes per row', 'of which'],
    [
      ['job only: bare BullMQ addBulk (d)', fmtBytes(bulk.perJob), 'the job hash, its id in the wait list, its events'],
      [
        'queued: job plus record (a)',
        fmtBytes(rowFigures.queuedPerRow),
        `row record ${fmtBytes(rowFigures.queuedRecordPerRow)}, newest-version entry ` +
          `(P:latest) ${fmtBytes(rowFigures.latestPerRow)}, the job`,
      ],
      [
        'finished (succeeded), its job gone (b)',
        fmtBytes(rowFigures.finishedPerRow),
        `row record ${fmtBytes(rowFigures.finishedRecordPerRow)}; change detection ` +
          `(P:latest + P:fingerprints, per key, not per ` +
          `run) ${fmtBytes(rowFigures.changeDetectionPerRow)}`,
      ],
      [
        'unchanged (c), once its run finished',
        fmtBytes(rowFigures.unchangedAdded / n),
        `the run's hash, bitmap and compressed chunk keys: ${fmtBytes(rowFigures.unchangedRunBytes / n)}`,
      ],
    ],
  );
  const goals = markdownTable(
    ['Goal', 'Target', 'Measured', 'Met'],
    [
      [
        'Peak Redis memory of the first import (a) vs bare addBulk (d)',
        '≤ 1.2×',
        `${peakRatio.toFixed(2)}× (${fmtMiB(rowFigures.importPeakAdded)} vs ${fmtMiB(bulk.peakAdded)})`,
        peakRatio <= 1.2 ? 'yes' : '**no**',
      ],
      [
        `Memory added by the unchanged re-import (c), run finished`,
        `≤ 50 MB per 1,000,000 rows (${fmtMiB(unchangedTarget)} here)`,
        fmtMiB(rowFigures.unchangedAdded),
        rowFigures.unchangedAdded <= unchangedTarget ? 'yes' : '**no**',
      ],
      [
        `Soak: used_memory after cycle ${soak.last} vs after cycle ${soak.middle}`,
        '≤ 1.1×',
        `${soak.ratio.toFixed(3)}×`,
        soak.ratio <= 1.1 ? 'yes' : '**no**',
      ],
    ],
  );
  return [
    `### Memory: ${fmtInt(n)}-row CSV, chunks of ${chunk}; soak of ${options.soakCycles} daily cycles`,
    '',
    perRow,
    '',
    goals,
    '',
    `Each figure is from a private \`redis-server\` (noeviction, no persistence) ` +
      `started for it, so nothing else runs in it: "peak" is its \`used_memory_peak\` ` +
      `minus \`used_memory\` before the step. (a) is \`compliance-sync import\` ` +
      `(${fmtSeconds(rowFigures.importWallMs)}); for (b) every row was finished as a ` +
      `worker finishes it after a 200 (the job's data through \`recordOutcome-5.lua\` ` +
      `with a request id and a Graph-shaped body), without sending, and the jobs ` +
      `deleted; (c) imports the same file again (every row unchanged; the run ends ` +
      `within the import); (d) is BullMQ's \`addBulk\` of the same rows on another ` +
      `fresh server. Per-record figures are \`MEMORY USAGE … SAMPLES 0\`.`,
    '',
    soak.section,
  ].join('\n');
}

/** One row of the soak population as it is on `day` (0-based cycle), with `version` bumping its values. */
function soakLine(i: number, version: number, reportedAt: string): string {
  const statuses = ['compliant', 'nonCompliant', 'remediated', 'error', 'conflict', 'notApplicable', 'unknown', 'notAssigned'];
  const cfg = `4f1d2c3b-0000-4000-a000-${String(i % 40).padStart(12, '0')}`;
  const user = `${(Math.imul(i, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0')}-1111-4222-a333-${i.toString(16).padStart(12, '0')}`;
  const type = i % 4 === 0 ? 'iosLobAppProvisioningConfiguration' : 'mobileAppConfiguration';
  return `${cfg},${user},${type},User ${i},${(i + version) % 5},${statuses[(i + version) % 8]},${reportedAt},user${i}@contoso.com`;
}

async function soakBench(options: MemoryOptions): Promise<{ section: string; ratio: number; middle: number; last: number }> {
  const { soakRows: rows, soakCycles: cycles, soakEvents: events, soakRetentionCycles: retentionCycles, soakCycleMs: cycleMs } = options;
  return withRedis(async (server, redis) => {
    const retentionMs = retentionCycles * cycleMs;
    const config = loadConfig({
      REDIS_URL: server.url,
      SYNC_PREFIX: PREFIX,
      SYNC_RUN_RETENTION: `${retentionMs}ms`,
      SYNC_LOG_LEVEL: 'silent',
    });
    const store = new ResultStore(redis, PREFIX, { runRetentionMs: retentionMs });
    const queue = createPatchQueue(redis, PREFIX);
    const DAY = 86_400_000;
    const firstDay = Date.UTC(2026, 0, 1);
    let virtualNow = firstDay;
    const serverRedis = new Redis(server.url, { maxRetriesPerRequest: null });
    const token = 'bench-token-0123456789abcdef';
    const app = await buildServer({
      config,
      redis: serverRedis,
      logger: createLogger('silent'),
      tokens: new ApiTokens([token]),
      now: () => virtualNow,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    // Each row's current values: bumped for the 3% changed each day and for each event, so the next day's file holds them.
    const versionOf = new Array<number>(rows).fill(0);
    const reportedAt = new Array<string>(rows).fill(new Date(firstDay - DAY).toISOString());
    const samples: { cycle: number; used: number; runs: number; keys: number; ms: number; queued: number; sentEvents: number }[] = [];
    const started = Date.now();
    log(
      `memory: soak of ${cycles} cycles (${fmtInt(rows)} rows, ${options.soakEvents} ` +
        `events each; retention ${retentionCycles} cycles = ${retentionMs} ms, one cycle ` +
        `every ${cycleMs} ms)...`,
    );
    try {
      for (let cycle = 1; cycle <= cycles; cycle++) {
        const cycleStart = Date.now();
        const day = firstDay + (cycle - 1) * DAY;
        virtualNow = day + 12 * 3_600_000;
        // The day's file: 3% of rows changed since yesterday (a different 3% each day), the rest as they were.
        for (let i = 0; i < rows; i++) {
          if ((i * 7 + cycle * 131) % 100 < 3) {
            versionOf[i]++;
            reportedAt[i] = new Date(day + (i % 3600) * 1000).toISOString();
          }
        }
        const csv = [HEADER, ...Array.from({ length: rows }, (_, i) => soakLine(i, versionOf[i], reportedAt[i])), ''].join('\n');
        const runId = `day-${cycle}`;
        const summary = await importRun(store, queue, { runId, rows: readCsv(Readable.from([csv])), sourceLabel: `soak day ${cycle}` });
        // The day's events: updates of existing users at noon, in requests of 100, into the hour's shared event run.
        let eventRunId = '';
        for (let sent = 0; sent < events; sent += 100) {
          const body = [];
          for (let k = sent; k < Math.min(events, sent + 100); k++) {
            const i = (cycle * 7919 + k * 13) % rows;
            versionOf[i]++;
            reportedAt[i] = new Date(virtualNow + k).toISOString();
            const [
              configurationId,
              userStatusId,
              configurationType,
              userDisplayName,
              devicesCount,
              status,
              lastReportedDateTime,
              userPrincipalName,
            ] = soakLine(i, versionOf[i], reportedAt[i]).split(',');
            body.push({
              configurationId,
              userStatusId,
              configurationType,
              userDisplayName,
              devicesCount: Number(devicesCount),
              status,
              lastReportedDateTime,
              userPrincipalName,
            });
          }
          const res = await fetch(`${url}/v1/user-statuses`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          if (res.status !== 202) throw new Error(`events answered ${res.status}: ${await res.text()}`);
          eventRunId = ((await res.json()) as { runId: string }).runId;
        }
        const queued =
          (await finishQueuedRows(redis, store, PREFIX, runId)) +
          (eventRunId ? await finishQueuedRows(redis, store, PREFIX, eventRunId) : 0);
        await deletePrefix(redis, `${PREFIX}:${QUEUE_NAMES.patch}`);
        const ms = Date.now() - cycleStart;
        if (ms < cycleMs) await sleep(cycleMs - ms);
        const { used } = await memoryInfo(redis);
        samples.push({
          cycle,
          used,
          runs: await redis.zcard(redisKeys(PREFIX).runs),
          keys: await redis.dbsize(),
          ms,
          queued,
          sentEvents: events,
        });
        if (cycle % 5 === 0 || cycle === 1)
          log(
            `memory: soak cycle ${cycle}: used_memory ${fmtMiB(used)}` +
              `, ${samples.at(-1)!.runs} runs kept, ${summary.enqueued} rows queued by the file`,
          );
      }
    } finally {
      await app.close();
      serverRedis.disconnect();
      await queue.close();
    }
    const middle = Math.min(retentionCycles, cycles);
    const at = (c: number) => samples.find((s) => s.cycle === c)!;
    const ratio = at(cycles).used / at(middle).used;
    const shown = samples.filter((s) => s.cycle === 1 || s.cycle % 5 === 0 || s.cycle === middle || s.cycle === cycles);
    const overran = samples.filter((s) => s.ms > cycleMs).length;
    const maxUsed = Math.max(...samples.map((s) => s.used));
    const bar = (used: number) => '█'.repeat(Math.max(1, Math.round((used / maxUsed) * 30)));
    const table = markdownTable(
      ['Cycle (day)', 'used_memory', 'Runs kept', 'Keys', 'Rows finished that day', 'Curve'],
      shown.map((s) => [String(s.cycle), fmtMiB(s.used), String(s.runs), fmtInt(s.keys), fmtInt(s.queued), bar(s.used)]),
    );
    const section = [
      `#### Soak: ${cycles} daily cycles of a ${fmtInt(rows)}-row file (3% changed ` +
        `each day) plus ${fmtInt(events)} events, retention ${retentionCycles} cycles`,
      '',
      table,
      '',
      `One cycle is one day: the day's file is imported with \`importRun\` (a ` +
        `different 3% of rows changed), ${fmtInt(events)} events are POSTed to the real ` +
        `server in requests of 100 (they update existing users, and the next day's file ` +
        `holds their values), and every row queued that day is finished as a worker ` +
        `finishes it after a 200 (\`recordOutcome-5.lua\`, not sent). A day ` +
        `lasts ${cycleMs} ms of real time (padded; ${overran} of ${cycles} cycles took ` +
        `longer) and \`SYNC_RUN_RETENTION\` is ${retentionCycles} days of it ` +
        `(${retentionMs} ms), so runs really expire; the server's clock is the day's ` +
        `noon, so each day's events share one run. used_memory after cycle ${cycles} / ` +
        `after cycle ${middle}: **${ratio.toFixed(3)}×**. Total soak ` +
        `time ${fmtSeconds(Date.now() - started)}. No PNG plot: no plotting library is a ` +
        `dependency of the project; the bar column is the curve.`,
    ].join('\n');
    return { section, ratio, middle, last: cycles };
  });
}

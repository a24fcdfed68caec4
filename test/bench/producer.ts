/**
 * Producer bench (issue 4): a million-row CSV through `compliance-sync import`, first and again unchanged,
 * beside the floor (a bare csv-parse pass) and the queue's ceiling (a bare BullMQ addBulk of as many jobs).
 * Every step runs as its own child process, which reports its peak RSS.
 */
import type { Redis } from 'ioredis';
import { ensureCsv } from './data.js';
import { markRunSent } from './mark-sent.js';
import {
  assertExit,
  benchPrefix,
  cliArgs,
  deletePrefix,
  fmtInt,
  fmtMB,
  fmtSeconds,
  lastJson,
  log,
  markdownTable,
  redisUsedMemory,
  runNode,
  waitForLazyFree,
  type ChildRun,
} from './support.js';

export interface ProducerOptions {
  rows: number;
  chunkSize: number;
}

interface Step {
  name: string;
  run: ChildRun;
  rows: number;
  redisBytes?: number;
}

interface ImportJson {
  runId: string;
  rows: number;
  accepted: number;
  enqueued: number;
  unchanged: number;
}

const rate = (s: Step) => s.rows / (s.run.wallMs / 1000);

export async function producerBench(redis: Redis, options: ProducerOptions): Promise<string> {
  const { path, bytes } = await ensureCsv({ name: 'producer', rows: options.rows });
  log(`producer: ${fmtInt(options.rows)} rows, ${fmtMB(bytes)} (${Math.round(bytes / options.rows)} bytes/row) in ${path}`);
  const steps: Step[] = [];
  const chunk = String(options.chunkSize);
  const measure = async (name: string, rows: number, prefix: string, args: string[]) => {
    await waitForLazyFree(redis);
    const before = await redisUsedMemory(redis);
    log(`producer: ${name}...`);
    const run = await runNode(args, { env: { SYNC_PREFIX: prefix }, measureRss: true, timeoutMs: 30 * 60_000 });
    assertExit(run, name);
    const step = { name, run, rows, redisBytes: (await redisUsedMemory(redis)) - before };
    log(`producer: ${name}: ${fmtSeconds(run.wallMs)}, ${fmtInt(rate(step))} rows/s, peak RSS ${fmtMB(run.peakRssBytes)}`);
    steps.push(step);
    return run;
  };

  // (c) first: it also brings the file into the page cache, so no step pays for the disk alone.
  const floorPrefix = benchPrefix('floor');
  await measure('(c) csv-parse pass over the file (floor)', options.rows, floorPrefix, ['test/bench/steps/csv-parse-floor.ts', path]);

  const importPrefix = benchPrefix('producer');
  let note: string;
  try {
    const first = lastJson<ImportJson>(
      await measure(
        '(a) first import (all rows new, queued)',
        options.rows,
        importPrefix,
        cliArgs('import', path, '--json', '--no-progress', '--chunk-size', chunk),
      ),
    );
    if (first.enqueued !== options.rows) throw new Error(`first import queued ${first.enqueued} of ${options.rows} rows`);
    log('producer: marking the first run as sent (seeding fingerprints from its rows, dropping its jobs)...');
    const marked = await markRunSent(redis, importPrefix, first.runId);
    note =
      `Before (b), ${fmtInt(marked)} rows of run (a) were marked as sent: their ` +
      `"fingerprint|version", read from the run's own rows, was written to ` +
      `\`P:fingerprints\` as a successful PATCH records it, and the queued jobs were ` +
      `deleted (nothing was sent).`;
    const second = lastJson<ImportJson>(
      await measure(
        '(b) re-import, every row unchanged',
        options.rows,
        importPrefix,
        cliArgs('import', path, '--json', '--no-progress', '--chunk-size', chunk),
      ),
    );
    if (second.unchanged !== options.rows || second.enqueued !== 0)
      throw new Error(`re-import: ${second.unchanged} unchanged, ${second.enqueued} queued; expected all ${options.rows} unchanged`);
  } finally {
    await deletePrefix(redis, importPrefix);
  }

  const bulkPrefix = benchPrefix('addbulk');
  try {
    await measure(`(d) bare BullMQ addBulk, chunks of ${chunk} (ceiling)`, options.rows, bulkPrefix, [
      'test/bench/steps/addbulk-ceiling.ts',
      String(options.rows),
      chunk,
    ]);
  } finally {
    await deletePrefix(redis, bulkPrefix);
  }

  const byLetter = (letter: string) => steps.find((s) => s.name.startsWith(`(${letter})`))!;
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(byLetter);
  const peak = Math.max(a.run.peakRssBytes ?? Infinity, b.run.peakRssBytes ?? Infinity);
  const table = markdownTable(
    ['Step', 'Rows', 'Wall time', 'Rows/s', 'Peak RSS', 'Redis memory added'],
    steps.map((s) => [
      s.name,
      fmtInt(s.rows),
      fmtSeconds(s.run.wallMs),
      fmtInt(rate(s)),
      fmtMB(s.run.peakRssBytes),
      s.redisBytes === undefined ? 'n/a' : fmtMB(Math.max(0, s.redisBytes)),
    ]),
  );
  const goals = markdownTable(
    ['Goal', 'Target', 'Measured', 'Met'],
    [
      ['Peak RSS of the import, (a) and (b)', '< 300 MB', fmtMB(peak), peak < 300 * 1024 * 1024 ? 'yes' : '**no**'],
      [
        '(b) re-import vs (c) csv-parse floor',
        'within 4x',
        `${(b.run.wallMs / c.run.wallMs).toFixed(2)}x`,
        b.run.wallMs <= 4 * c.run.wallMs ? 'yes' : '**no**',
      ],
      ['(a) first import vs (d) addBulk ceiling', '≥ 0.75', (rate(a) / rate(d)).toFixed(2), rate(a) >= 0.75 * rate(d) ? 'yes' : '**no**'],
    ],
  );
  return [
    `### Producer: ${fmtInt(options.rows)}-row CSV (${fmtMB(bytes)}, ~${Math.round(bytes / options.rows)} bytes/row), chunks of ${chunk}`,
    '',
    table,
    '',
    goals,
    '',
    'Each step is its own child process (`node --import tsx ...`), timed from spawn ' +
      'to exit (so each includes ~0.5 s of start-up) with its peak RSS read from ' +
      '`VmHWM` at exit. ' +
      '"Redis memory added" is the change in `used_memory` over the step (the step\'s keys are deleted afterwards). ' +
      note,
  ].join('\n');
}

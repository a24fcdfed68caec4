/**
 * Start-up bench (issue 8): cold start of `compliance-sync status <runId> --json` through the package's bin (the
 * compiled CLI in dist/) beside a bare `node -e 0`, and beside the way it ran before the build (tsx compiling the
 * TypeScript sources at every start). Each command is a new process, timed from spawn to exit; the three commands
 * take turns, so a busy moment of the machine falls on all of them alike.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { assertBuilt, benchPrefix, BIN, CLI, deletePrefix, fmtRatio, log, markdownTable, REDIS_URL, REPO_ROOT } from './support.js';

export interface StartupOptions {
  runs: number;
}

interface Timed {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

function timedRun(args: string[], env: Record<string, string>): Promise<Timed> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-5000)));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code, stdout, stderr }));
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmtMs = (ms: number) => `${Math.round(ms)} ms`;

export async function startupBench(redis: Redis, options: StartupOptions): Promise<string> {
  assertBuilt();
  const prefix = benchPrefix('startup');
  const env = { REDIS_URL, SYNC_PREFIX: prefix, SYNC_LOG_LEVEL: 'warn' };
  const dir = await mkdtemp(join(tmpdir(), 'csync-bench-startup-'));
  try {
    // A real run to ask about: three rows imported with the CLI (queued, never sent).
    const csv = join(dir, 'rows.csv');
    await writeFile(
      csv,
      ['configurationId,userStatusId,status', 'cfg-1,user-1,compliant', 'cfg-1,user-2,nonCompliant', 'cfg-2,user-3,error', ''].join('\n'),
    );
    const imported = await timedRun([BIN, 'import', csv, '--json', '--no-progress'], env);
    if (imported.code !== 0) throw new Error(`import exited with ${imported.code}: ${imported.stderr}`);
    const runId = (JSON.parse(imported.stdout.trim().split('\n').at(-1) ?? '{}') as { runId: string }).runId;

    const commands = [
      { name: '`node -e 0` (bare Node)', args: ['-e', '0'] },
      {
        name: `\`compliance-sync status <runId> --json\` through the package's bin (compiled, dist/)`,
        args: [BIN, 'status', runId, '--json'],
      },
      {
        name: '`node --import tsx src/cli/index.ts status <runId> --json` (before: TypeScript compiled by tsx at start)',
        args: ['--import', 'tsx', CLI, 'status', runId, '--json'],
      },
    ];
    const times: number[][] = commands.map(() => []);
    const warmUp = 2;
    log(`startup: ${warmUp} warm-up + ${options.runs} runs of each of ${commands.length} commands, taking turns...`);
    for (let i = 0; i < warmUp + options.runs; i++) {
      for (const [c, command] of commands.entries()) {
        const run = await timedRun(command.args, env);
        if (run.code !== 0) throw new Error(`${command.args.join(' ')} exited with ${run.code}: ${run.stderr}`);
        if (c > 0 && (JSON.parse(run.stdout) as { runId?: string }).runId !== runId)
          throw new Error(`unexpected status output: ${run.stdout}`);
        if (i >= warmUp) times[c].push(run.ms);
      }
    }
    const medians = times.map(median);
    const bare = medians[0];
    const table = markdownTable(
      ['Command (a new process each time)', 'Median', 'Fastest', 'Slowest', 'vs `node -e 0`'],
      commands.map((command, c) => [
        command.name,
        fmtMs(medians[c]),
        fmtMs(Math.min(...times[c])),
        fmtMs(Math.max(...times[c])),
        fmtRatio(medians[c] / bare),
      ]),
    );
    const ratio = medians[1] / bare;
    const goals = markdownTable(
      ['Goal', 'Target', 'Measured', 'Met'],
      [
        ['`status --json` through the bin vs `node -e 0` (medians)', 'at most 4x', fmtRatio(ratio), ratio <= 4 ? 'yes' : 'no'],
        ['the same, compiled vs tsx (medians)', '–', fmtRatio(medians[1] / medians[2]), '–'],
      ],
    );
    const compileCache =
      Number(process.versions.node.split('.')[0]) >= 22
        ? "On this Node the bin turns on Node's module compile cache " +
          "(`module.enableCompileCache()`), so after the first start the CLI's modules are " +
          'not compiled again.'
        : 'This Node has no module compile cache (`module.enableCompileCache()` needs 22.1 ' +
          "or later); every start compiles the CLI's modules.";
    return [
      `### Start-up: \`compliance-sync status <runId> --json\`, ${options.runs} runs each`,
      '',
      table,
      '',
      goals,
      '',
      `Each run is a new \`${process.execPath.split('/').at(-1)}\` process ` +
        `(${process.version}), timed from spawn to exit with its output read, against ` +
        `the local Redis; ` +
        (`the three commands take turns, after ${warmUp} untimed rounds (so every file ` +
          `is in the page cache). \`status\` loads only what it needs: commander, zod (the ` +
          `configuration), ioredis and the result store; `) +
        `not BullMQ, pino, fastify or @azure/identity. ${compileCache}`,
    ].join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
    await deletePrefix(redis, prefix);
  }
}

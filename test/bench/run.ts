/**
 * `npm run bench`: fleet pacing (issue 3), producer throughput and memory, a day's workload (issue 4), CLI start-up (issue 8),
 * and a worker process's Redis connections at many tenants (issue 20).
 * Prints Markdown tables (ours beside a baseline from the same run) on stdout and progress on stderr.
 * Not part of `npm test`: the figures are reported, never asserted.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startSimulator } from '../../src/simulator/index.js';
import { scaledBudget } from './budget-scale.js';
import { fleetBench } from './fleet.js';
import { producerBench } from './producer.js';
import { startupBench } from './startup.js';
import { deletePrefix, livePrefixes, log, REDIS_URL } from './support.js';
import { workloadBench } from './workload.js';
import { memoryBench } from './memory.js';
import { firstSyncBench } from './first-sync.js';
import { tenantsBench } from './tenants.js';
import { connectionsBench } from './connections.js';
import { supersedeBench } from './supersede.js';
import { perPatchBench } from './per-patch.js';

const PARTS = [
  'fleet',
  'producer',
  'workload',
  'startup',
  'memory',
  'first-sync',
  'tenants',
  'connections',
  'supersede',
  'per-patch',
] as const;
type Part = (typeof PARTS)[number];

const HELP = `Usage: npm run bench -- [options]

  --only <parts>             fleet, producer, workload, startup, memory, first-sync, tenants, connections, supersede,
                             per-patch (comma-separated or repeated; default: all)
  --rows <n>                 row count for every selected part (overrides the defaults below)
  --fleet-rows <n>           fleet bench rows (default 1000)
  --producer-rows <n>        producer bench rows (default 1000000)
  --workload-rows <n>        workload bench rows (default 100000)
  --memory-rows <n>          memory bench rows (default 1000000)
  --soak-rows <n>            memory soak: rows of each day's file (default 20000)
  --soak-cycles <n>          memory soak: days (default 60; retention is half of them)
  --soak-events <n>          memory soak: events per day (default 2000)
  --soak-cycle-ms <n>        memory soak: real time one day lasts (default 4000)
  --first-sync-rows <n>      first sync of an existing tenant: rows (default 100000)
  --held-percent <p>         first sync: rows Graph already holds (default 97)
  --scale <x>                Intune's write budget (100/20 s per app, 200/20 s per tenant) times x (default 10)
  --workers <list>           worker process counts for the fleet bench (default 1,3)
  --baseline-concurrency <n> requests in flight for the Graph SDK baseline script (default 10)
  --changed-percent <p>      workload rows changed since yesterday (default 3)
  --full-sample <n>          workload: also measure sending a sample of n rows in full (default 1000; 0 skips it)
  --chunk-size <n>           producer: import --chunk-size and addBulk chunk size (default 1000)
  --startup-runs <n>         startup: timed runs of each command (default 20)
  --tenants-rows <n>         tenants: rows per tenant (default 300)
  --tenants <list>           tenants: tenant counts (default 1,10,50)
  --backlog <n>              tenants: queued rows of the one big tenant among the most tenants (default 100000)
  --tenant-workers <n>       tenants: worker processes (default 1)
  --tenant-concurrency <n>   tenants: jobs in flight per tenant per worker (default 10)
  --connection-tenants <list> connections: tenant counts of the one worker process (default 1,50,200)
  --idle-window-ms <n>       connections: how long the idle process's Redis calls are counted (default 30000)
  --supersede-rows <n>       supersede: rows of each import, and so the queued backlog the second one lands on (default 200000)
  --supersede-pairs <n>      supersede: first-import-then-import-over-it pairs, judged on the median ratio (default 1)
  --per-patch-rows <n>       per-patch: rows each worker sends (default 20000)
  --per-patch-concurrency <n> per-patch: jobs in flight in each worker (default 50)
  --per-patch-pairs <n>      per-patch: back-to-back runs of ours and the bare BullMQ worker (default 3)
  --write <file>             also write the tables to this Markdown file (default: test/bench/RESULTS.md when all parts run)

Uses the Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379) under bench-* prefixes, deleted afterwards.
Data files go to test/bench/.data/ (reused between runs).`;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
}

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    rows: { type: 'string' },
    'fleet-rows': { type: 'string' },
    'producer-rows': { type: 'string' },
    'workload-rows': { type: 'string' },
    'memory-rows': { type: 'string' },
    'soak-rows': { type: 'string' },
    'soak-cycles': { type: 'string' },
    'soak-events': { type: 'string' },
    'soak-cycle-ms': { type: 'string' },
    'first-sync-rows': { type: 'string' },
    'held-percent': { type: 'string' },
    scale: { type: 'string' },
    workers: { type: 'string' },
    'baseline-concurrency': { type: 'string' },
    'changed-percent': { type: 'string' },
    'full-sample': { type: 'string' },
    'chunk-size': { type: 'string' },
    'startup-runs': { type: 'string' },
    'tenants-rows': { type: 'string' },
    tenants: { type: 'string' },
    backlog: { type: 'string' },
    'tenant-workers': { type: 'string' },
    'tenant-concurrency': { type: 'string' },
    'connection-tenants': { type: 'string' },
    'idle-window-ms': { type: 'string' },
    'supersede-rows': { type: 'string' },
    'supersede-pairs': { type: 'string' },
    'per-patch-rows': { type: 'string' },
    'per-patch-concurrency': { type: 'string' },
    'per-patch-pairs': { type: 'string' },
    write: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

const only = (values.only ?? [])
  .flatMap((v) => v.split(','))
  .map((v) => v.trim())
  .filter(Boolean);
for (const part of only) if (!PARTS.includes(part as Part)) throw new Error(`--only: unknown part "${part}" (use ${PARTS.join(', ')})`);
const parts: Part[] = only.length > 0 ? PARTS.filter((p) => only.includes(p)) : [...PARTS];
const rowsFor = (part: Exclude<Part, 'startup' | 'connections'>, fallback: number) =>
  Math.round(positive(`${part}-rows`, values[`${part}-rows`] ?? values.rows, fallback));
const budget = scaledBudget(positive('scale', values.scale, 10));
const workerCounts = (values.workers ?? '1,3').split(',').map((w) => Math.round(positive('workers', w, 1)));

const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
// Writes count against Intune's "any request" limits too: scaled with the write budget, as on Graph.
const sim = await startSimulator({ budget: budget.simulator, anyBudget: budget.anySimulator });

let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  log('interrupted: deleting the bench keys...');
  void Promise.all([...livePrefixes].map((p) => deletePrefix(redis, p))).finally(() => process.exit(130));
});

const sections: string[] = [
  `## Benchmarks`,
  '',
  `Command: \`${command}\` · scale factor: Intune's write budget × ${budget.scale} (${budget.describe}) · ` +
    (`${cpus().length} CPU cores (${cpus()[0]?.model.trim()}` +
      `), ${Math.round(totalmem() / 2 ** 30)} GB RAM, Node ${process.version}` +
      `, ${new Date().toISOString().slice(0, 10)}`),
];
process.stdout.write(`${sections.join('\n')}\n\n`);
const started = Date.now();
try {
  for (const part of parts) {
    let section: string;
    if (part === 'fleet') {
      section = await fleetBench(redis, sim, budget, {
        rows: rowsFor('fleet', 1000),
        workerCounts,
        baselineConcurrency: Math.round(positive('baseline-concurrency', values['baseline-concurrency'], 10)),
      });
    } else if (part === 'startup') {
      section = await startupBench(redis, { runs: Math.round(positive('startup-runs', values['startup-runs'], 20)) });
    } else if (part === 'producer') {
      section = await producerBench(redis, {
        rows: rowsFor('producer', 1_000_000),
        chunkSize: Math.round(positive('chunk-size', values['chunk-size'], 1000)),
      });
    } else if (part === 'memory') {
      const cycles = Math.round(positive('soak-cycles', values['soak-cycles'], 60));
      section = await memoryBench({
        rows: rowsFor('memory', 1_000_000),
        chunkSize: Math.round(positive('chunk-size', values['chunk-size'], 1000)),
        soakRows: Math.round(positive('soak-rows', values['soak-rows'], 20_000)),
        soakCycles: cycles,
        soakEvents: Math.round(positive('soak-events', values['soak-events'], 2000)),
        soakRetentionCycles: Math.max(1, Math.floor(cycles / 2)),
        soakCycleMs: Math.round(positive('soak-cycle-ms', values['soak-cycle-ms'], 4000)),
      });
    } else if (part === 'tenants') {
      section = await tenantsBench(budget, {
        rowsPerTenant: rowsFor('tenants', 300),
        tenantCounts: (values.tenants ?? '1,10,50').split(',').map((n) => Math.round(positive('tenants', n, 1))),
        backlog: Math.round(positive('backlog', values.backlog, 100_000)),
        workers: Math.round(positive('tenant-workers', values['tenant-workers'], 1)),
        concurrency: Math.round(positive('tenant-concurrency', values['tenant-concurrency'], 10)),
      });
    } else if (part === 'connections') {
      section = await connectionsBench({
        tenantCounts: (values['connection-tenants'] ?? '1,50,200').split(',').map((n) => Math.round(positive('connection-tenants', n, 1))),
        idleWindowMs: Math.round(positive('idle-window-ms', values['idle-window-ms'], 30_000)),
      });
    } else if (part === 'supersede') {
      const pairs = Math.round(positive('supersede-pairs', values['supersede-pairs'], 1));
      section = await supersedeBench({ rows: rowsFor('supersede', 200_000), pairs });
    } else if (part === 'per-patch') {
      section = await perPatchBench({
        rows: rowsFor('per-patch', 20_000),
        concurrency: Math.round(positive('per-patch-concurrency', values['per-patch-concurrency'], 50)),
        pairs: Math.round(positive('per-patch-pairs', values['per-patch-pairs'], 3)),
      });
    } else if (part === 'first-sync') {
      section = await firstSyncBench(redis, sim, budget, {
        rows: rowsFor('first-sync', 100_000),
        heldPercent: positive('held-percent', values['held-percent'], 97),
      });
    } else {
      section = await workloadBench(redis, sim, budget, {
        rows: rowsFor('workload', 100_000),
        changedPercent: positive('changed-percent', values['changed-percent'], 3),
        fullSample: values['full-sample'] === '0' ? 0 : Math.round(positive('full-sample', values['full-sample'], 1000)),
      });
    }
    sections.push('', section);
    process.stdout.write(`${section}\n\n`);
  }
  const elapsed = `Total bench time: ${((Date.now() - started) / 60_000).toFixed(1)} min.`;
  sections.push('', elapsed);
  process.stdout.write(`${elapsed}\n`);
  const target = values.write ?? (parts.length === PARTS.length ? new URL('./RESULTS.md', import.meta.url) : undefined);
  if (target) {
    await writeFile(target, `${sections.join('\n')}\n`);
    log(`tables written to ${target instanceof URL ? target.pathname : target}`);
  }
} finally {
  if (!interrupted) {
    await Promise.all([...livePrefixes].map((p) => deletePrefix(redis, p)));
    await sim.close();
    redis.disconnect();
  }
}

#!/usr/bin/env node
// `npm test`: every test file under test/unit and test/integration, through node:test with tsx.
//
// Most files spend their time waiting (on Redis, the simulator, child processes, timeouts): one at a time, the suite
// kept 2 cores only about 60 % busy. So they run TEST_CONCURRENCY files at a time (default 3). The files below measure
// pacing against the wall clock (the fleet's requests per second, their peak in any one second, 429 shares; a small
// tenant's rows finishing within its ideal time plus one budget interval); a busy neighbour would skew exactly what
// they measure, so they run afterwards, one at a time.
//
// `npm test -- <files>` runs only those files (same split). Exit code: 0 when every file passed, else 1.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const ALONE = new Set(['test/integration/fleet-pacing.test.ts', 'test/integration/tenants.test.ts']);

const listed = (dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));
const files = process.argv.length > 2 ? process.argv.slice(2) : [...listed('test/unit'), ...listed('test/integration')];
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 3);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`TEST_CONCURRENCY must be a positive integer, got ${process.env.TEST_CONCURRENCY}`);
  process.exit(2);
}

function run(group, filesOfGroup, perGroupConcurrency) {
  if (filesOfGroup.length === 0) return 0;
  console.log(`# ${group}: ${filesOfGroup.length} file(s), ${perGroupConcurrency} at a time`);
  // A file runs as one test of the runner, bound by --test-timeout too: long files (change detection: 6,000 PATCHes)
  // sharing the cores with two others need more than a single test's 3 minutes.
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${perGroupConcurrency}`, '--test-timeout=600000', ...filesOfGroup];
  const { status, signal } = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return signal ? 1 : (status ?? 1);
}

const shared = run(
  'tests that share the machine',
  files.filter((f) => !ALONE.has(f)),
  concurrency,
);
const alone = run(
  'pacing tests, one at a time',
  files.filter((f) => ALONE.has(f)),
  1,
);
process.exit(shared === 0 && alone === 0 ? 0 : 1);

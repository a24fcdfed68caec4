/**
 * The README's promises that rot silently: the quickstart's commands, run as the README writes them (extracted from
 * between its `<!-- quickstart -->` markers) through the compiled CLI, and every `#anchor` link of the README and
 * docs/ naming a heading that exists (GitHub's own slugs, through github-slugger).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import GithubSlugger from 'github-slugger';
import {
  BIN,
  REDIS_URL,
  REPO_ROOT,
  deletePrefix,
  lastJsonLine,
  notOnCluster,
  runCli,
  testRedis,
  uniquePrefix,
  type CliResult,
} from '../support/harness.js';

const readme = () => readFile(join(REPO_ROOT, 'README.md'), 'utf8');

interface Quickstart {
  /** `npm ci` and the like: what prepares the checkout (the test runs on a built one). */
  setup: string[];
  /** The arguments of the long-running `simulate` line. */
  simulate: string[];
  env: Record<string, string>;
  /** The other `compliance-sync` lines, in order, as argument lists. */
  commands: string[][];
}

/** The quickstart's shell lines, read from the code blocks between the markers; fails on anything it cannot run as written. */
function parseQuickstart(markdown: string): Quickstart {
  const block = /<!-- quickstart -->\n([\s\S]*?)<!-- \/quickstart -->/.exec(markdown);
  assert.ok(block, 'the README has a <!-- quickstart --> ... <!-- /quickstart --> block');
  const shellLines: string[] = [];
  for (const fence of block[1].matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of fence[1].split('\n')) {
      const code = line.replace(/\s+#.*$/, '').trim();
      if (code !== '') shellLines.push(code);
    }
  }
  const result: Quickstart = { setup: [], simulate: [], env: {}, commands: [] };
  for (const line of shellLines) {
    // Only what a plain split can run as the README writes it: a quote or a substitution would need a shell.
    assert.doesNotMatch(line, /["'`$|&;<>\\]/, `a quickstart line this test cannot run as written: ${line}`);
    const words = line.split(/\s+/);
    if (words[0] === 'export') {
      const [name, ...value] = words[1].split('=');
      result.env[name] = value.join('=');
    } else if (words[0] === 'npx' && words[1] === 'compliance-sync') {
      if (words[2] === 'simulate') result.simulate = words.slice(3);
      else result.commands.push(words.slice(2));
    } else {
      assert.equal(line, 'npm ci', `a quickstart line that is neither an export, npm ci nor a compliance-sync command: ${line}`);
      result.setup.push(line);
    }
  }
  return result;
}

async function startSimulator(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'simulate', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string];
  return { child, url: (JSON.parse(line.split('\n')[0]) as { url: string }).url };
}

describe('README quickstart', notOnCluster('the quickstart uses one Redis'), () => {
  it('runs as written: the sample is sent to the simulator, the run completes, and a second import sends nothing', async () => {
    const quickstart = parseQuickstart(await readme());
    assert.deepEqual(quickstart.setup, ['npm ci'], 'npm test builds dist/ first, as npm ci does');
    assert.deepEqual(Object.keys(quickstart.env).sort(), ['GRAPH_ACCESS_TOKEN', 'GRAPH_BASE_URL', 'REDIS_URL', 'SYNC_PREFIX']);
    const portAt = quickstart.simulate.indexOf('--port');
    assert.ok(portAt >= 0, 'the simulator line names its port');
    const readmePort = quickstart.simulate[portAt + 1];
    assert.equal(quickstart.env.GRAPH_BASE_URL, `http://127.0.0.1:${readmePort}`, "GRAPH_BASE_URL points at the simulator line's port");
    assert.deepEqual(
      quickstart.commands.map((words) => words[0]),
      ['import', 'worker', 'status', 'report'],
    );

    // The README's lines, with three substitutions a shared test machine needs: a free port (8080 may be taken),
    // this test's Redis, and a prefix of its own.
    const simArgs = quickstart.simulate.map((word, i) => (i === portAt + 1 ? '0' : word));
    const sim = await startSimulator(simArgs);
    const prefix = uniquePrefix('readme-quickstart');
    const env = { ...quickstart.env, GRAPH_BASE_URL: sim.url, REDIS_URL, SYNC_PREFIX: prefix };
    const redis = testRedis({ redisUrl: REDIS_URL, redisCluster: undefined });
    try {
      const results: CliResult[] = [];
      for (const args of quickstart.commands) {
        const result = await runCli(args, env);
        assert.equal(result.code, 0, `compliance-sync ${args.join(' ')} exits 0; stderr: ${result.stderr}`);
        results.push(result);
      }
      const [imported, , status, report] = results;
      assert.match(imported.stdout, /46 rows read, 42 accepted, 4 rejected, 42 queued to send/);
      assert.match(status.stdout, /run quickstart: completed, 4 rejected/);
      assert.match(status.stdout, /pending 0 {2}succeeded 42 {2}failed 0/);
      assert.equal(report.stdout.trim().split('\n').length, 1 + 4, 'the rejected report: a header and the 4 rows');
      const counters = (await (await fetch(`${sim.url}/_sim/counters`)).json()) as { requests: number; applied: number };
      assert.equal(counters.applied, 42, 'every accepted row is in the simulator');
      assert.equal(counters.requests, 42, "and was sent once (the simulator's defaults have no random faults)");

      // "Importing the same file again with another --run-id queues nothing: every row is unchanged."
      const again = await runCli([...quickstart.commands[0].map((w) => (w === 'quickstart' ? 'quickstart-again' : w)), '--json'], env);
      assert.equal(again.code, 0, again.stderr);
      const summary = lastJsonLine<{ enqueued: number; unchanged: number }>(again.stdout);
      assert.deepEqual({ enqueued: summary.enqueued, unchanged: summary.unchanged }, { enqueued: 0, unchanged: 42 });
    } finally {
      sim.child.kill('SIGTERM');
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });
});

describe('README and docs/ links', () => {
  it('every #anchor link names a heading of the file it points into, and the Contents list every section', async () => {
    const docs = (await readdir(join(REPO_ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
    const files = ['README.md', ...docs];
    const anchorsOf = new Map<string, Set<string>>();
    for (const file of files) {
      const text = (await readFile(join(REPO_ROOT, file), 'utf8')).replace(/```[\s\S]*?```/g, '');
      const slugger = new GithubSlugger();
      anchorsOf.set(file, new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slugger.slug(m[1]))));
    }
    const broken: string[] = [];
    for (const file of files) {
      const text = await readFile(join(REPO_ROOT, file), 'utf8');
      for (const [, target, anchor] of text.matchAll(/\]\(([^)#\s]*)#([^)\s]+)\)/g)) {
        const into = target === '' ? file : join(file, '..', target);
        const anchors = anchorsOf.get(into);
        if (anchors === undefined) continue; // a link into a file outside README.md and docs/: not ours to check here
        if (!anchors.has(anchor)) broken.push(`${file}: ${target}#${anchor}`);
      }
    }
    assert.deepEqual(broken, []);
    const text = (await readme()).replace(/```[\s\S]*?```/g, '');
    const contents = /\*\*Contents\*\*\n([\s\S]*?)\n\n/.exec(text);
    assert.ok(contents, 'the README has a **Contents** list');
    const slugger = new GithubSlugger();
    const sections = [...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) => `#${slugger.slug(m[1])}`);
    const listed = [...contents[1].matchAll(/\]\((#[^)]+)\)/g)].map((m) => m[1]);
    assert.deepEqual(listed, sections, 'the Contents list every ## and ### section, in order');
    assert.ok((anchorsOf.get('README.md')?.size ?? 0) > 20, "the README's headings were read");
  });
});

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT, runCli } from '../support/harness.js';

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
}

// No Docker engine runs here, so this checks what can be checked: both files parse, name what they must, and are consistent with the CLI and the build.
const compose = parse(readFileSync(`${REPO_ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };

describe('docker-compose.yml', () => {
  it('names redis, worker, server and simulator', () => {
    for (const name of ['redis', 'worker', 'server', 'simulator']) assert.ok(compose.services[name], `service ${name}`);
  });

  it('runs a current Redis (8.x) with AOF and noeviction', () => {
    assert.match(compose.services.redis.image ?? '', /^redis:8(\.\d+)*(-alpine)?$/);
    const command = compose.services.redis.command!.join(' ');
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--maxmemory-policy noeviction/);
  });

  it('scales the worker and points every built service at the Dockerfile', () => {
    assert.ok((compose.services.worker.deploy?.replicas ?? 0) > 1);
    assert.ok(existsSync(`${REPO_ROOT}Dockerfile`));
    for (const [name, service] of Object.entries(compose.services)) {
      if (!service.image) assert.equal(service.build, '.', `${name} builds the project`);
    }
    assert.equal(compose.services.worker.environment?.REDIS_URL, 'redis://redis:6379');
  });

  it("every service's command is a CLI command with those options", async () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.image || !service.command) continue;
      const [command, ...args] = service.command;
      const help = await runCli([command, '--help'], {});
      assert.equal(help.code, 0, `${name}: compliance-sync ${command} --help`);
      for (const flag of args.filter((a) => a.startsWith('--'))) assert.ok(help.stdout.includes(flag), `${name}: ${command} has ${flag}`);
    }
  });
});

/** The Dockerfile's stages: FROM line, then the instructions until the next FROM (continuation lines joined). */
function dockerStages(text: string): Array<{ from: string; lines: string[] }> {
  const stages: Array<{ from: string; lines: string[] }> = [];
  for (const line of text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    if (/^FROM\s/i.test(line)) stages.push({ from: line.slice(5).trim(), lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages(readFileSync(`${REPO_ROOT}Dockerfile`, 'utf8'));
  const runtime = stages.at(-1)!;
  const instruction = (name: string) => runtime.lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  it('builds in one stage and runs on Node 24 slim in another', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    assert.ok(stages[0].lines.some((l) => /^RUN .*npm run build/.test(l)), 'the first stage runs npm run build');
    assert.match(runtime.from, /^node:24(\.\d+)*-(\w+-)?slim$/);
  });

  it('installs production dependencies only, without running the build', () => {
    const installs = instruction('RUN').filter((r) => r.includes('npm ci'));
    assert.equal(installs.length, 1);
    assert.match(installs[0], /--omit=dev/);
    assert.match(installs[0], /--ignore-scripts/);
    assert.ok(!instruction('COPY').some((c) => /^(\.|src|jobs|test)\s/.test(c)), 'no sources copied into the runtime stage');
    assert.ok(instruction('COPY').some((c) => /--from=\S+ \/app\/dist \.\/dist/.test(c)), 'dist/ comes from the build stage');
  });

  it('runs as a non-root user', () => {
    const users = instruction('USER');
    assert.ok(users.length > 0);
    assert.doesNotMatch(users.at(-1)!, /^(root|0)(:|$)/);
  });

  it("runs the package's bin, which runs the compiled CLI", async () => {
    const entrypoint = JSON.parse(instruction('ENTRYPOINT').at(-1)!) as string[];
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8')) as { bin: Record<string, string> };
    assert.deepEqual(entrypoint, ['node', pkg.bin['compliance-sync']]);
    assert.match(readFileSync(`${REPO_ROOT}${entrypoint[1]}`, 'utf8'), /import\('\.\.\/dist\/cli\/index\.js'\)/);
    // The same file, run here against this checkout's build (npm ci builds it through `prepare`).
    const { stdout } = await promisify(execFile)(process.execPath, [entrypoint[1], '--help'], { cwd: REPO_ROOT });
    assert.match(stdout, /Usage: compliance-sync/);
  });
});

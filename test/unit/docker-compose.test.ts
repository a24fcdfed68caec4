import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { REPO_ROOT, runCli } from '../support/harness.js';

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
}

// No Docker engine runs here, so this checks what can be checked: it parses, names every service, and is consistent with the CLI.
const compose = parse(readFileSync(`${REPO_ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };

describe('docker-compose.yml', () => {
  it('names redis, worker, server and simulator', () => {
    for (const name of ['redis', 'worker', 'server', 'simulator']) assert.ok(compose.services[name], `service ${name}`);
  });

  it('runs Redis with AOF and noeviction', () => {
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

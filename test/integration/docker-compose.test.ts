import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Script } from 'node:vm';
import { checkConfiguration } from '../../src/cli/doctor-checks.js';
import { startSimulator } from '../../src/simulator/index.js';
import { REPO_ROOT, runCli } from '../support/harness.js';

interface Healthcheck {
  test?: string[];
  interval?: string;
}
interface ComposeService {
  image?: string;
  build?: string;
  profiles?: string[];
  entrypoint?: string[];
  command?: string[];
  working_dir?: string;
  environment?: Record<string, string | null>;
  volumes?: string[];
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition?: string }> | string[];
  deploy?: { replicas?: number };
}

// No Docker engine runs here (and no `docker compose`), so this checks what can be checked: the files parse, name what
// they must, are consistent with the CLI and the build, and give each service the environment Compose would give it.
const composeText = readFileSync(`${REPO_ROOT}docker-compose.yml`, 'utf8');
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };
const services = Object.entries(compose.services);

/** The services `docker compose` starts with these profiles: those without a profile, and those with one of them. */
const enabled = (...profiles: string[]) =>
  services
    .filter(([, s]) => !s.profiles || s.profiles.some((p) => profiles.includes(p)))
    .map(([name]) => name)
    .sort();

/**
 * A value as Compose interpolates it from `.env` (and the shell): ${VAR}, ${VAR:-default}, ${VAR-default}. ${VAR:?message}
 * would stop every service, not only the one that needs VAR, so it is refused here.
 */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g,
    (_, name: string, colon: string, op: string | undefined, arg: string) => {
      assert.notEqual(op, '?', `\${${name}:?...} makes every service, in every profile, fail when ${name} is unset`);
      const set = colon === ':' ? env[name] !== undefined && env[name] !== '' : env[name] !== undefined;
      return set ? env[name] : op === '-' ? arg : '';
    },
  );
}

/**
 * A service's environment as its container sees it: a variable listed without a value is passed from `.env` when set
 * there, else left out.
 */
function containerEnv(service: ComposeService, dotEnv: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(service.environment ?? {})) {
    if (value === null) {
      if (dotEnv[name] !== undefined) out[name] = dotEnv[name];
    } else out[name] = interpolate(String(value), dotEnv);
  }
  return out;
}

/** Parses a .env file as Compose does for these simple lines: NAME=value, # comments and blank lines skipped. */
function parseDotEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim())) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match) env[match[1]] = match[2];
  }
  return env;
}

/** A production .env as .env.example documents it, filled in. */
const PROD_ENV: Record<string, string> = {
  ...parseDotEnv(readFileSync(`${REPO_ROOT}.env.example`, 'utf8')),
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
  AZURE_CLIENT_SECRET: 'a-secret',
  SYNC_API_TOKENS: 'token-1,token-2',
};

/**
 * The CLI arguments a built service runs: the image's entrypoint is `node bin/compliance-sync.js`; an entrypoint of its
 * own names the command.
 */
function cliArgs(service: ComposeService): string[] {
  if (!service.entrypoint) return service.command ?? [];
  assert.deepEqual(service.entrypoint.slice(0, 2), ['node', '/app/bin/compliance-sync.js']);
  return [...service.entrypoint.slice(2), ...(service.command ?? [])];
}

describe('docker-compose.yml', () => {
  it(
    'starts Redis, Prometheus and Grafana without a profile; the fleet under prod; ' +
      'import and doctor under tools; the simulator only under demo',
    () => {
      assert.deepEqual(enabled(), ['grafana', 'prometheus', 'redis']);
      assert.deepEqual(enabled('prod'), ['grafana', 'prometheus', 'redis', 'server', 'worker']);
      assert.deepEqual(enabled('tools'), ['doctor', 'grafana', 'import', 'prometheus', 'redis']);
      assert.deepEqual(enabled('demo'), ['demo-import', 'demo-server', 'demo-worker', 'grafana', 'prometheus', 'redis', 'simulator']);
    },
  );

  it('depends only on services of its own profile or of none (Compose refuses a dependency that a profile leaves out)', () => {
    for (const [name, service] of services) {
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dep of deps) {
        const other = compose.services[dep];
        assert.ok(other, `${name} depends on ${dep}`);
        assert.ok(
          !other.profiles || other.profiles.every((p) => service.profiles?.includes(p)),
          `${name} (${service.profiles?.join(',') ?? 'no profile'}) depends on ${dep} (${other.profiles?.join(',')})`,
        );
      }
    }
  });

  it(
    'with a production .env, no service outside the demo gets GRAPH_BASE_URL or ' +
      'GRAPH_ACCESS_TOKEN, and only the server gets SYNC_API_TOKENS',
    () => {
      for (const name of enabled('prod', 'tools')) {
        const env = containerEnv(compose.services[name], PROD_ENV);
        assert.ok(!('GRAPH_BASE_URL' in env), `${name}: GRAPH_BASE_URL`);
        assert.ok(!('GRAPH_ACCESS_TOKEN' in env), `${name}: GRAPH_ACCESS_TOKEN`);
        assert.ok(!Object.values(env).some((v) => v.includes('simulator') || v === 'sim-token'), `${name} points at the simulator`);
        if (name !== 'server') assert.ok(!('SYNC_API_TOKENS' in env), `${name}: SYNC_API_TOKENS`);
      }
      for (const name of ['worker', 'server', 'import', 'doctor']) {
        const env = containerEnv(compose.services[name], PROD_ENV);
        assert.equal(env.AZURE_TENANT_ID, PROD_ENV.AZURE_TENANT_ID, name);
        assert.equal(env.AZURE_CLIENT_ID, PROD_ENV.AZURE_CLIENT_ID, name);
        assert.equal(env.AZURE_CLIENT_SECRET, PROD_ENV.AZURE_CLIENT_SECRET, name);
        assert.equal(env.REDIS_URL, 'redis://redis:6379', name);
      }
      assert.equal(containerEnv(compose.services.server, PROD_ENV).SYNC_API_TOKENS, 'token-1,token-2');
    },
  );

  it("doctor's environment under a production .env is a valid configuration for real Graph, without SYNC_API_TOKENS", () => {
    const env = containerEnv(compose.services.doctor, PROD_ENV);
    assert.ok(!('SYNC_API_TOKENS' in env));
    const { config, checks } = checkConfiguration(env);
    assert.deepEqual(
      checks.filter((c) => c.result === 'fail'),
      [],
    );
    assert.equal(config?.graphBaseUrl, 'https://graph.microsoft.com');
    assert.equal(config?.credentials.kind, 'clientSecret');
    assert.match(checks.find((c) => c.name === 'config.credentials')!.detail, /AZURE_CLIENT_SECRET/);
  });

  it('passes GRAPH_BASE_URL, GRAPH_ACCESS_TOKEN and a certificate path through when .env sets them', () => {
    const env = containerEnv(compose.services.worker, {
      GRAPH_BASE_URL: 'https://proxy.example.com',
      GRAPH_ACCESS_TOKEN: 't',
      AZURE_CLIENT_CERTIFICATE_PATH: '/certs/app.pem',
    });
    assert.equal(env.GRAPH_BASE_URL, 'https://proxy.example.com');
    assert.equal(env.GRAPH_ACCESS_TOKEN, 't');
    assert.equal(env.AZURE_CLIENT_CERTIFICATE_PATH, '/certs/app.pem');
    for (const name of ['worker', 'server', 'import', 'doctor'])
      assert.ok(compose.services[name].volumes?.includes('./certs:/certs:ro'), `${name} mounts ./certs`);
  });

  it('passes AZURE_CREDENTIAL through: .env.example with the managed identity chosen (secret line empty) is valid', () => {
    const { AZURE_CLIENT_SECRET: _secret, ...withoutSecret } = PROD_ENV;
    const dotEnv = { ...withoutSecret, AZURE_CREDENTIAL: 'managed-identity', AZURE_CLIENT_SECRET: '' };
    for (const name of ['worker', 'server', 'import', 'doctor']) {
      assert.equal(containerEnv(compose.services[name], dotEnv).AZURE_CREDENTIAL, 'managed-identity', name);
    }
    const { config, checks } = checkConfiguration(containerEnv(compose.services.doctor, dotEnv));
    assert.deepEqual(
      checks.filter((c) => c.result === 'fail'),
      [],
    );
    assert.deepEqual(config?.credentials, { kind: 'managedIdentity', clientId: PROD_ENV.AZURE_CLIENT_ID });
  });

  it('is written without ${VAR:?}, which would stop every service when one variable is unset', () => {
    assert.doesNotMatch(composeText, /\$\{[A-Za-z_][A-Za-z0-9_]*:?\?/);
    // Every service's values interpolate with an empty .env.
    for (const [, service] of services) containerEnv(service, {});
  });

  it('points the demo profile, and only it, at the simulator, seeded from the demo sample', () => {
    for (const name of ['demo-worker', 'demo-server', 'demo-import']) {
      const env = containerEnv(compose.services[name], PROD_ENV);
      assert.equal(env.GRAPH_BASE_URL, 'http://simulator:8080', name);
      assert.equal(env.GRAPH_ACCESS_TOKEN, 'sim-token', name);
      assert.ok(!Object.keys(env).some((k) => k.startsWith('AZURE_')), `${name}: a production .env does not reach the demo`);
      assert.notEqual(
        env.SYNC_PREFIX,
        containerEnv(compose.services.worker, PROD_ENV).SYNC_PREFIX,
        `${name}: demo rows never mix with real ones`,
      );
    }
    const simulator = compose.services.simulator.command!;
    assert.equal(simulator[simulator.indexOf('--port') + 1], '8080');
    const sample = simulator[simulator.indexOf('--seed-from') + 1];
    assert.equal(sample, '/app/dist/cli/demo-sample.csv');
    // The image holds dist/ as the build leaves it (Dockerfile: COPY --from=build /app/dist ./dist, WORKDIR /app).
    assert.ok(existsSync(`${REPO_ROOT}${sample.replace('/app/', '')}`), 'npm run build copies the demo sample into dist/cli');
    assert.equal(compose.services['demo-import'].working_dir, '/app/dist/cli');
  });

  it('runs `docker compose run --rm import <file>` and `doctor` through entrypoints, reading the file from the mounted ./data', () => {
    const imp = compose.services.import;
    assert.deepEqual(imp.entrypoint, ['node', '/app/bin/compliance-sync.js', 'import']);
    assert.equal(imp.working_dir, '/data');
    assert.ok(imp.volumes?.some((v) => v.startsWith('./data:/data')));
    assert.deepEqual(compose.services.doctor.entrypoint, ['node', '/app/bin/compliance-sync.js', 'doctor']);
    // An entrypoint set in Compose drops the image's CMD: doctor runs all checks, and run arguments become its flags.
    assert.equal(compose.services.doctor.command, undefined);
    const dockerfile = readFileSync(`${REPO_ROOT}Dockerfile`, 'utf8');
    assert.match(dockerfile, /^WORKDIR \/app$/m);
    assert.match(dockerfile, /^COPY bin \.\/bin$/m);
  });

  it('runs a current Redis (8.x) with AOF, maxmemory (REDIS_MAXMEMORY, default 1gb) and noeviction', () => {
    assert.match(compose.services.redis.image ?? '', /^redis:8(\.\d+)*(-alpine)?$/);
    const command = compose.services.redis.command!.map((a) => interpolate(a, {})).join(' ');
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--maxmemory-policy noeviction/);
    assert.match(command, /--maxmemory 1gb/);
    assert.match(compose.services.redis.command!.map((a) => interpolate(a, { REDIS_MAXMEMORY: '4gb' })).join(' '), /--maxmemory 4gb/);
  });

  it('has healthchecks for Redis, the servers (/readyz), the workers (/healthz on --metrics-port) and the simulator', async () => {
    assert.deepEqual(compose.services.redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
    for (const name of ['server', 'demo-server']) {
      const service = compose.services[name];
      const port = service.command![service.command!.indexOf('--port') + 1];
      assert.match(service.healthcheck!.test!.join(' '), new RegExp(`http://127\\.0\\.0\\.1:${port}/readyz`), name);
    }
    for (const name of ['worker', 'demo-worker']) {
      const service = compose.services[name];
      const port = service.command![service.command!.indexOf('--metrics-port') + 1];
      assert.match(service.healthcheck!.test!.join(' '), new RegExp(`http://127\\.0\\.0\\.1:${port}/healthz`), name);
    }
    // The simulator's check asks a path it serves without a token.
    const simPath = /http:\/\/127\.0\.0\.1:8080(\/[^']*)'/.exec(compose.services.simulator.healthcheck!.test!.join(' '))?.[1];
    assert.ok(simPath, 'the simulator has a healthcheck on its --port');
    const sim = await startSimulator({ budget: false });
    try {
      assert.equal((await fetch(`${sim.url}${simPath}`)).status, 200, simPath);
    } finally {
      await sim.close();
    }
    // The image has node but no curl or wget: each check is a node one-liner, and it parses.
    for (const [name, service] of services) {
      const test = service.healthcheck?.test;
      if (test?.[1] !== 'node') continue;
      assert.equal(test[2], '-e', name);
      // Compiled, not run.
      assert.doesNotThrow(() => new Script(test[3]), name);
    }
  });

  it('scales the worker and points every built service at the Dockerfile', () => {
    assert.ok((compose.services.worker.deploy?.replicas ?? 0) > 1);
    assert.ok(existsSync(`${REPO_ROOT}Dockerfile`));
    for (const [name, service] of services) {
      if (!service.image) assert.equal(service.build, '.', `${name} builds the project`);
    }
  });

  // Where a Compose binary is installed (no engine is needed for `config`), it resolves the file itself: the same environment per service.
  const composeBinary = [['docker', 'compose'], ['docker-compose']].find(
    ([bin, ...sub]) => spawnSync(bin, [...sub, 'version'], { stdio: 'ignore' }).status === 0,
  );
  it(
    'as `docker compose config` resolves it with a production .env: the same environment per service',
    { skip: composeBinary ? false : 'no docker compose or docker-compose here' },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'csync-compose-'));
      try {
        const envFile = join(dir, 'prod.env');
        await writeFile(
          envFile,
          Object.entries(PROD_ENV)
            .map(([k, v]) => `${k}=${v}`)
            .join('\n') + '\n',
        );
        const [bin, ...sub] = composeBinary!;
        // A clean environment: only the .env file speaks.
        const { stdout } = await promisify(execFile)(
          bin,
          [
            ...sub,
            '-f',
            `${REPO_ROOT}docker-compose.yml`,
            '--env-file',
            envFile,
            '--profile',
            'prod',
            '--profile',
            'tools',
            '--profile',
            'demo',
            'config',
          ],
          { env: { PATH: process.env.PATH ?? '' } },
        );
        const resolved = parse(stdout) as { services: Record<string, { environment?: Record<string, string | null> }> };
        for (const [name, service] of services) {
          // A variable Compose leaves without a value is not set in the container.
          const actual = Object.fromEntries(Object.entries(resolved.services[name].environment ?? {}).filter(([, v]) => v !== null));
          assert.deepEqual(actual, containerEnv(service, PROD_ENV), name);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("every service's command is a CLI command with those options", async () => {
    for (const [name, service] of services) {
      if (service.image) continue;
      const [command, ...args] = cliArgs(service);
      const help = await runCli([command, '--help'], {});
      assert.equal(help.code, 0, `${name}: compliance-sync ${command} --help`);
      for (const flag of args.filter((a) => a.startsWith('--') && a !== '--help'))
        assert.ok(help.stdout.includes(flag), `${name}: ${command} has ${flag}`);
    }
  });
});

/** The Dockerfile's stages: FROM line, then the instructions until the next FROM (continuation lines joined). */
function dockerStages(text: string): Array<{ from: string; lines: string[] }> {
  const stages: Array<{ from: string; lines: string[] }> = [];
  for (const line of text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    if (/^FROM\s/i.test(line)) stages.push({ from: line.slice(5).trim(), lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages(readFileSync(`${REPO_ROOT}Dockerfile`, 'utf8'));
  const runtime = stages.at(-1)!;
  const instruction = (name: string) =>
    runtime.lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  it('builds in one stage and runs on Node 24 slim in another', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    assert.ok(
      stages[0].lines.some((l) => /^RUN .*npm run build/.test(l)),
      'the first stage runs npm run build',
    );
    assert.match(runtime.from, /^node:24(\.\d+)*-(\w+-)?slim$/);
  });

  it('installs production dependencies only, without running the build', () => {
    const installs = instruction('RUN').filter((r) => r.includes('npm ci'));
    assert.equal(installs.length, 1);
    assert.match(installs[0], /--omit=dev/);
    assert.match(installs[0], /--ignore-scripts/);
    assert.ok(!instruction('COPY').some((c) => /^(\.|src|jobs|test)\s/.test(c)), 'no sources copied into the runtime stage');
    assert.ok(
      instruction('COPY').some((c) => /--from=\S+ \/app\/dist \.\/dist/.test(c)),
      'dist/ comes from the build stage',
    );
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

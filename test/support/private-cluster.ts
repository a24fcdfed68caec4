import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './server-helpers.js';

const run = promisify(execFile);

/**
 * A real Redis Cluster of the test's own: `masters` redis-servers with `--cluster-enabled yes` on free ports (no
 * persistence), joined by `redis-cli --cluster create` with no replicas, ready once every node says cluster_state:ok.
 * The shared Redis is never touched.
 */
export class PrivateCluster {
  private constructor(
    readonly ports: readonly number[],
    private readonly dir: string,
    private readonly processes: ChildProcess[],
  ) {}

  static async start(masters = 3): Promise<PrivateCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'csync-cluster-'));
    const ports: number[] = [];
    // freePort() releases the port it found: take them one after another, each different from the last.
    while (ports.length < masters) {
      const port = await freePort();
      // The cluster bus listens on port + 10000, which must be free (and a valid port) too.
      if (!ports.includes(port) && port + 10000 <= 65535) ports.push(port);
    }
    const processes = ports.map((port) =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      ),
    );
    const cluster = new PrivateCluster(ports, dir, processes);
    try {
      await Promise.all(ports.map((port) => waitForPing(port)));
      await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 30_000,
      });
      await cluster.waitUntilOk();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** SYNC_REDIS_CLUSTER's value for this cluster. */
  get seeds(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  /** A client of the whole cluster, as tests use it (commands wait while the cluster is briefly unavailable). */
  client(): Cluster {
    return new Cluster(
      this.ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { maxRetriesPerRequest: null } },
    );
  }

  /** Every node reports cluster_state:ok and all 16384 slots served (slots propagate by gossip after `create`). */
  private async waitUntilOk(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(this.ports.map((port) => clusterInfo(port).catch(() => '')));
      if (infos.every((i) => /cluster_state:ok/.test(i) && /cluster_slots_ok:16384/.test(i))) return;
      if (Date.now() > deadline)
        throw new Error(`the test cluster on ports ${this.ports.join(', ')} did not reach cluster_state:ok: ${infos.join(' | ')}`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = once(p, 'exit');
        p.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function withNode<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

const clusterInfo = (port: number) => withNode(port, async (r) => String(await r.call('CLUSTER', 'INFO')));

async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await withNode(port, (r) => r.ping());
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start: ${(err as Error).message}`, { cause: err });
      await sleep(50);
    }
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './server-helpers.js';

/**
 * A redis-server of the test's own on a free port (AOF fsynced on every write), for tests that stop, stall
 * (SIGSTOP), restart or password-protect Redis: the shared Redis is never touched.
 */
export class PrivateRedis {
  private process?: ChildProcess;
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly password?: string,
    private readonly extraArgs: readonly string[] = [],
  ) {}

  /** `args` are added last, so they override the defaults (e.g. `--appendonly no`, `--maxmemory 8mb`). */
  static async start(options: { password?: string; args?: readonly string[] } = {}): Promise<PrivateRedis> {
    const server = new PrivateRedis(await freePort(), await mkdtemp(join(tmpdir(), 'csync-redis-')), options.password, options.args);
    await server.startProcess();
    return server;
  }

  get url(): string {
    return this.password ? `redis://:${this.password}@127.0.0.1:${this.port}` : `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.process!.pid!;
  }

  async startProcess(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--dir',
      this.dir,
    ];
    if (this.password) args.push('--requirepass', this.password);
    args.push(...this.extraArgs);
    this.process = spawn('redis-server', args, { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        await probe.ping();
        break;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`redis-server on port ${this.port} did not start: ${(err as Error).message}`, { cause: err });
        probe.disconnect();
        await sleep(50);
      }
    }
    probe.disconnect();
  }

  /** SIGSTOP: the process keeps its port and accepts connections, but answers nothing. */
  pause(): void {
    this.process!.kill('SIGSTOP');
  }

  resume(): void {
    this.process!.kill('SIGCONT');
  }

  async kill(): Promise<void> {
    if (this.process && this.process.exitCode === null && this.process.signalCode === null) {
      const exited = once(this.process, 'exit');
      this.process.kill('SIGCONT');
      this.process.kill('SIGKILL');
      await exited;
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A private redis-server without persistence, for tests and benches that restrict or count what Redis does. */
export function startPrivateRedis(extraArgs: string[] = []): Promise<PrivateRedis> {
  return PrivateRedis.start({ args: ['--appendonly', 'no', ...extraArgs] });
}

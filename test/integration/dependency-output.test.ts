/**
 * Issue 21 "Readable on a terminal" and issue 19 "Messages": what dependencies print to the console goes through our
 * logger. BullMQ warns about the eviction policy with console.warn on every connection it opens, and prints a Queue's
 * unheard connection errors with console.error, stack and all, at every reconnect attempt. Each test runs the
 * compiled CLI against a redis-server of its own and reads its stderr line by line.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HEADER, BIN, REPO_ROOT, runCli, seededValidRows, startTestEnv, writeTemp, type TestEnv } from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';
import { API_TOKEN, freePort } from '../support/server-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** Our log lines (pino JSON: stderr is not a terminal here) and every other line, which must be one of ours too. */
function splitStderr(stderr: string): { logs: LogLine[]; other: string[] } {
  const logs: LogLine[] = [];
  const other: string[] = [];
  for (const line of stderr.split('\n')) {
    if (line === '') continue;
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      other.push(line);
    }
  }
  return { logs, other };
}

/** What a dependency prints raw: BullMQ's warnings, an error's inspected stack or fields, ioredis's unhandled-error line. */
const RAW_DEPENDENCY_LINE =
  /IMPORTANT! Eviction policy|It is highly recommended|\[ioredis\]|^\s+at |^Error: |^\s+(errno|code|syscall|address|port):|^\}$/;

async function privateEnv(name: string, redis: PrivateRedis): Promise<TestEnv> {
  const t = await startTestEnv(name, { redisUrl: redis.url });
  cleanups.push(() => t.close());
  return t;
}

class Spawned {
  stderr = '';
  readonly exited: Promise<unknown[]>;
  constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = once(child, 'exit');
    cleanups.push(async () => {
      await this.stop();
    });
  }

  static start(args: string[], env: Record<string, string>): Spawned {
    const stdio: StdioOptions = ['ignore', 'ignore', 'pipe'];
    return new Spawned(spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio }));
  }

  async waitFor(what: RegExp, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!what.test(this.stderr)) {
      assert.ok(Date.now() < deadline, `no ${what} on stderr within ${timeoutMs} ms:\n${this.stderr}`);
      assert.equal(this.child.exitCode, null, `exited before ${what}:\n${this.stderr}`);
      await sleep(50);
    }
  }

  /**
   * Until the server answers HTTP (any status): by then `serve` has passed `listen` and handles SIGTERM, which it
   * does not while it starts.
   */
  async waitUntilServing(port: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (
      !(await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => true,
        () => false,
      ))
    ) {
      assert.ok(Date.now() < deadline, `serve did not answer within ${timeoutMs} ms:\n${this.stderr}`);
      assert.equal(this.child.exitCode, null, `serve exited:\n${this.stderr}`);
      await sleep(100);
    }
  }

  async stop(): Promise<unknown[]> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

describe('dependency lines go through the logger', { concurrency: 1 }, () => {
  it("BullMQ's eviction-policy warning: one warn log line per process from import, worker and serve, never the raw line", async () => {
    const redisServer = await PrivateRedis.start({ args: ['--maxmemory', '200mb', '--maxmemory-policy', 'allkeys-lru'] });
    cleanups.push(() => redisServer.stop());
    const t = await privateEnv('dep-eviction', redisServer);
    const file = await writeTemp(t, 'rows.csv', [HEADER, ...seededValidRows(t.sim, 20)].join('\n') + '\n');

    const imported = await runCli(['import', file, '--no-progress'], t.env);
    assert.equal(imported.code, 0, imported.stderr);
    const worker = await runCli(['worker', '--until-idle'], t.env);
    assert.equal(worker.code, 0, worker.stderr);
    assert.equal(t.sim.counters().applied, 20);

    const port = await freePort();
    const server = Spawned.start(['serve', '--port', String(port)], { ...t.env, SYNC_API_TOKENS: API_TOKEN });
    await server.waitFor(/maxmemory-policy is allkeys-lru/);
    await server.waitUntilServing(port);
    assert.deepEqual(await server.stop(), [0, null]);

    for (const [command, stderr] of [
      ['import', imported.stderr],
      ['worker', worker.stderr],
      ['serve', server.stderr],
    ] as const) {
      const { logs, other } = splitStderr(stderr);
      assert.deepEqual(
        other.filter((line) => RAW_DEPENDENCY_LINE.test(line)),
        [],
        `${command}: raw dependency lines`,
      );
      const policyLines = logs.filter((line) => /maxmemory-policy/.test(line.msg));
      assert.equal(policyLines.length, 1, `${command}: one line about the policy, however many connections BullMQ opened:\n${stderr}`);
      assert.equal(policyLines[0].level, 40, 'at warn');
      assert.match(policyLines[0].msg, /maxmemory-policy is allkeys-lru, not noeviction/);
      assert.equal(policyLines[0].maxmemoryPolicy, 'allkeys-lru');
    }
  });

  it('a Redis drop: worker and serve each log one line when it is lost and one when it is back, and no stack traces', async () => {
    const redisServer = await PrivateRedis.start();
    cleanups.push(() => redisServer.stop());
    const t = await privateEnv('dep-drop', redisServer);
    // Cleanups run in reverse: Redis is back before the test env deletes its keys, even after a failed assertion.
    let redisDown = false;
    cleanups.push(async () => {
      if (redisDown) await redisServer.startProcess();
    });
    const port = await freePort();
    // At info, so the start and the return are logged too (the harness's envs log at warn).
    const env = { ...t.env, SYNC_LOG_LEVEL: 'info' };
    const worker = Spawned.start(['worker'], env);
    const server = Spawned.start(['serve', '--port', String(port)], { ...env, SYNC_API_TOKENS: API_TOKEN });
    await worker.waitFor(/"msg":"worker started"/);
    await server.waitUntilServing(port);

    redisDown = true;
    await redisServer.kill();
    await worker.waitFor(/Redis connection lost/);
    await server.waitFor(/Redis connection lost/);
    // Down long enough for several reconnect attempts (200 ms, 400 ms, 600 ms... apart): each used to print a stack
    // trace from BullMQ's queues and an error line from each BullMQ worker. The assertions hold for any number of them.
    await sleep(2500);
    await redisServer.startProcess();
    redisDown = false;
    await worker.waitFor(/Redis connection back/);
    await server.waitFor(/Redis connection back/);
    assert.deepEqual(await worker.stop(), [0, null]);
    assert.deepEqual(await server.stop(), [0, null]);

    for (const [command, stderr] of [
      ['worker', worker.stderr],
      ['serve', server.stderr],
    ] as const) {
      const { logs, other } = splitStderr(stderr);
      assert.deepEqual(other, [], `${command}: every stderr line is a log line`);
      const lost = logs.filter((line) => /Redis connection lost/.test(line.msg));
      assert.equal(lost.length, 1, `${command}: one line for the drop:\n${stderr}`);
      assert.equal(lost[0].level, 40);
      assert.equal(logs.filter((line) => /Redis connection back/.test(line.msg)).length, 1, `${command}: one line for the return`);
      const errors = logs.filter((line) => line.level >= 50).map((line) => line.msg);
      assert.deepEqual(errors, [], `${command}: no error lines for a drop it rode out`);
    }
  });
});

import { createServer, type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { RunAlerts } from '../../jobs/alerts.js';
import { buildServer } from '../../src/server/app.js';
import { ApiTokens } from '../../src/server/auth.js';
import { testRedis, type TestEnv } from './harness.js';

export const API_TOKEN = 'test-token-0123456789abcdef';
export const OTHER_TOKEN = 'second-token-fedcba9876543210';

/** A port nothing listens on right now (for child processes that need one up front). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TestServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** The real HTTP server on a free port, with its own Redis connection, against a test env's prefix. */
export async function startTestServer(
  t: TestEnv,
  options: { alerts?: RunAlerts; tokens?: string[]; env?: Record<string, string>; now?: () => number } = {},
): Promise<TestServer> {
  const config = options.env ? loadConfig({ ...t.env, ...options.env }) : t.config;
  const redis = testRedis(config);
  const app = await buildServer({
    config,
    redis,
    logger: createLogger('silent'),
    tokens: new ApiTokens(options.tokens ?? [API_TOKEN, OTHER_TOKEN]),
    alerts: options.alerts,
    now: options.now,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    app,
    async close() {
      await app.close();
      redis.disconnect();
    },
  };
}

export function authHeaders(token = API_TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

/** POSTs events; returns the status and parsed JSON body. */
export async function postEvents(
  url: string,
  body: unknown,
  headers: Record<string, string> = authHeaders(),
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/user-statuses`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** The fields of validRows(i) in harness.ts, as a JSON record (the same user, configuration and values). */
export function eventRecord(i: number, options: { configs?: number; day?: number; status?: string } = {}): Record<string, unknown> {
  const statuses = ['compliant', 'nonCompliant', 'remediated', 'error', 'conflict', 'notApplicable', 'unknown', 'notAssigned'];
  return {
    configurationId: `cfg-${i % (options.configs ?? 7)}`,
    userStatusId: `user-${i}`,
    configurationType: i % 4 === 0 ? 'iosLobAppProvisioningConfiguration' : 'mobileAppConfiguration',
    userDisplayName: `User ${i}`,
    devicesCount: i % 5,
    status: options.status ?? statuses[i % 8],
    lastReportedDateTime: `2026-11-${String(options.day ?? 20).padStart(2, '0')}T10:00:${String(i % 60).padStart(2, '0')}Z`,
    userPrincipalName: `user${i}@contoso.example`,
  };
}

/**
 * The script a user might write instead of compliance-sync: read the CSV, PATCH every row with the Graph SDK's
 * default middleware (RetryHandler: up to 3 retries of 429/503/504, honouring Retry-After) and 10 requests at a time.
 *
 * The one change to the default chain: the SDK's AuthenticationHandler only sends the token to https:// Graph hosts
 * or `customHosts`, and `customHosts` is only matched for https:// URLs, so against the simulator's http:// URL it
 * drops the Authorization header. It is swapped for a handler that always sets the header; every other handler of
 * MiddlewareFactory.getDefaultMiddlewareChain (RetryHandler, RedirectHandler, TelemetryHandler, HTTPMessageHandler)
 * is the SDK's default, with default options.
 *
 * Usage: GRAPH_BASE_URL=... GRAPH_ACCESS_TOKEN=... node --import tsx test/bench/baseline-client.ts <file.csv> [concurrency]
 * Prints {"ok","failed","failedByStatus","lastDoneAt"} on stdout.
 */
import { readFile } from 'node:fs/promises';
import { Client, MiddlewareFactory, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import { parse } from 'csv-parse/sync';

class StaticBearer implements Middleware {
  private next?: Middleware;
  constructor(private readonly token: string) {}
  async execute(context: Context): Promise<void> {
    const options = (context.options ??= {});
    options.headers = { ...(options.headers as Record<string, string>), Authorization: `Bearer ${this.token}` };
    await this.next!.execute(context);
  }
  setNext(next: Middleware): void {
    this.next = next;
  }
}

/** The SDK's default chain with only the first handler (authentication) replaced. */
function defaultChainWithBearer(token: string): Middleware {
  const chain = MiddlewareFactory.getDefaultMiddlewareChain({ getAccessToken: async () => token });
  chain[0] = new StaticBearer(token);
  for (let i = 0; i < chain.length - 1; i++) chain[i].setNext?.(chain[i + 1]);
  return chain[0];
}

const COLLECTIONS: Record<string, string> = {
  mobileAppConfiguration: 'mobileAppConfigurations',
  iosLobAppProvisioningConfiguration: 'iosLobAppProvisioningConfigurations',
};

const [file, concurrencyArg] = process.argv.slice(2);
if (!file) throw new Error('usage: baseline-client.ts <file.csv> [concurrency]');
const token = process.env.GRAPH_ACCESS_TOKEN ?? '';
const client = Client.initWithMiddleware({
  middleware: defaultChainWithBearer(token),
  baseUrl: `${process.env.GRAPH_BASE_URL}/`,
  defaultVersion: 'beta',
});
const rows = parse<Record<string, string>>(await readFile(file, 'utf8'), { columns: true, skip_empty_lines: true });

let next = 0;
let ok = 0;
const failedByStatus: Record<string, number> = {};
const worker = async () => {
  while (next < rows.length) {
    const r = rows[next++];
    try {
      await client
        .api(`/deviceAppManagement/${COLLECTIONS[r.configurationType]}/${r.configurationId}/userStatuses/${r.userStatusId}`)
        .patch({
          '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus',
          userDisplayName: r.userDisplayName,
          devicesCount: Number(r.devicesCount),
          status: r.status,
          lastReportedDateTime: r.lastReportedDateTime,
          userPrincipalName: r.userPrincipalName,
        });
      ok++;
    } catch (err) {
      // What a simple script does: note the failure and move on.
      const status = String((err as { statusCode?: number }).statusCode ?? 'error');
      failedByStatus[status] = (failedByStatus[status] ?? 0) + 1;
    }
  }
};
await Promise.all(Array.from({ length: Number(concurrencyArg ?? 10) }, worker));
const failed = Object.values(failedByStatus).reduce((a, b) => a + b, 0);
process.stdout.write(`${JSON.stringify({ ok, failed, failedByStatus, lastDoneAt: Date.now() })}\n`);

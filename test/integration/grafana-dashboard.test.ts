import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { REPO_ROOT, spawnWorker, startTestEnv, type TestEnv } from '../support/harness.js';
import { parsePrometheusText, type MetricFamily } from '../support/prometheus-text.js';
import { DEPRECATED_METRICS } from '../../src/server/metrics.js';
import { freePort, startTestServer, type TestServer } from '../support/server-helpers.js';

/**
 * Docker cannot run here, so this proves what can be proved without it: every metric that any panel of
 * the stored Grafana dashboard queries is one that the real server or a real worker process exports
 * (scraped over HTTP, not a list kept in this test), and the compose wiring points at the right ports.
 */

const OBS = `${REPO_ROOT}src/server/observability`;
const DASHBOARDS = `${OBS}/grafana/dashboards`;

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { uid?: string };
}
interface Panel {
  title?: string;
  type?: string;
  targets?: Target[];
  panels?: Panel[];
  datasource?: { uid?: string };
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'inf',
  'nan',
  'atan2',
]);

/**
 * The metric names a PromQL expression reads: strings, label matchers, ranges and grouping clauses are
 * removed; what remains that is neither a function call, a keyword nor a number is a metric name.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const rest = stripped.slice(match.index + word.length);
    if (/^\s*\(/.test(rest) || PROMQL_WORDS.has(word.toLowerCase())) continue;
    // The exponent of a number such as 1e3.
    if (/[0-9.]$/.test(stripped.slice(Math.max(0, match.index - 1), match.index))) continue;
    names.add(word);
  }
  return [...names];
}

function allPanels(panels: Panel[] = []): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels)]);
}

function dashboardExprs(file: string): string[] {
  const dashboard = JSON.parse(readFileSync(`${DASHBOARDS}/${file}`, 'utf8')) as { panels?: Panel[] };
  return allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
}

/**
 * The names kept for one release as deprecated duplicates (README, Metrics), each with the names that replace it. A
 * deprecated name counts as covered when its replacements have a panel. Listed here, not read from the code, so a
 * rename is a deliberate edit of this test too (the test also checks this list is the code's DEPRECATED_METRICS).
 */
const DEPRECATED: Record<string, string[]> = {
  compliance_sync_rows: ['compliance_sync_rows_total', 'compliance_sync_rows_queued'],
  compliance_sync_runs: ['compliance_sync_runs_total', 'compliance_sync_runs_open'],
  compliance_sync_throttled_responses: ['compliance_sync_throttled_responses_total'],
  compliance_sync_throttled_seconds: ['compliance_sync_throttled_seconds_total'],
};
/** prom-client's process metrics under the prefixes of earlier releases: deprecated for their standard names. */
const DEPRECATED_PROCESS_PREFIXES = ['compliance_sync_server_', 'compliance_sync_worker_'];
const isDeprecated = (name: string) => name in DEPRECATED || /^compliance_sync_(server|worker)_(process|nodejs)_/.test(name);

/** Every name a scrape lets a query use: families, their samples, and a histogram's _bucket/_sum/_count even before any observation. */
function exportedNames(families: Iterable<MetricFamily>): Set<string> {
  const names = new Set<string>();
  for (const f of families) {
    names.add(f.name);
    for (const s of f.samples) names.add(s.name);
    if (f.type === 'histogram' || f.type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(f.name + suffix);
  }
  return names;
}

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return parsePrometheusText(await res.text());
}

describe('metric names in PromQL', () => {
  it('finds the metrics and nothing else in the kinds of queries the dashboard uses', () => {
    assert.deepEqual(
      metricNamesIn('sum by (state) (rate(compliance_sync_worker_rows_finished_total{state!="x", job=~"a|b"}[$__rate_interval]))'),
      ['compliance_sync_worker_rows_finished_total'],
    );
    assert.deepEqual(metricNamesIn('histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m])))'), ['a_bucket']);
    assert.deepEqual(metricNamesIn('sum(rate(x_sum[1m])) / sum(rate(x_count[1m])) > 1e3 or on (job) vector(0)'), ['x_sum', 'x_count']);
    assert.deepEqual(metricNamesIn('max(up offset 5m) unless max without (instance) (y)'), ['up', 'y']);
  });
});

describe('Grafana dashboard', () => {
  let t: TestEnv;
  let server: TestServer;
  let exported: Set<string>;
  let families: MetricFamily[];
  let workerExit: Promise<unknown[]> | undefined;
  let stopWorker: (() => void) | undefined;

  before(async () => {
    t = await startTestEnv('grafana-dashboard');
    server = await startTestServer(t);
    const port = await freePort();
    const child = spawnWorker(t.env, ['--metrics-port', String(port), '--concurrency', '1']);
    workerExit = once(child, 'exit');
    stopWorker = () => child.kill('SIGTERM');
    let worker: Map<string, MetricFamily> | undefined;
    for (let i = 0; i < 200 && !worker; i++) {
      worker = await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      if (!worker) await sleep(100);
    }
    assert.ok(worker, 'the worker serves /metrics');
    families = [...(await scrape(`${server.url}/metrics`)).values(), ...worker.values()];
    exported = exportedNames(families);
  });

  after(async () => {
    stopWorker?.();
    await workerExit;
    await server?.close();
    await t?.close();
  });

  const files = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));

  it(
    'alert-rules.yml: fleet blocked, failures, Redis memory high-water and a long ' + 'pause, on metrics the server or a worker exports',
    () => {
      const rules = parse(readFileSync(`${OBS}/alert-rules.yml`, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
      const all = rules.groups.flatMap((g) => g.rules);
      const byName = new Map(all.map((r) => [r.alert, r.expr]));
      const reads = (alert: string, metric: string) =>
        assert.ok(metricNamesIn(byName.get(alert) ?? '').includes(metric), `${alert} reads ${metric}`);
      reads('ComplianceSyncFleetBlocked', 'compliance_sync_breaker_tripped');
      reads('ComplianceSyncFleetBlocked', 'compliance_sync_tenant_breaker_tripped');
      reads('ComplianceSyncFleetBlocked', 'compliance_sync_runs_open');
      reads('ComplianceSyncRowsFailing', 'compliance_sync_rows_total');
      reads('ComplianceSyncRedisMemoryHighWater', 'compliance_sync_redis_used_memory_bytes');
      reads('ComplianceSyncRedisMemoryHighWater', 'compliance_sync_redis_memory_high_water_ratio');
      reads('ComplianceSyncLongPause', 'compliance_sync_budget_paused');
      const unknown = all.flatMap((r) =>
        metricNamesIn(r.expr)
          .filter((name) => !exported.has(name))
          .map((name) => `${r.alert}: ${name}`),
      );
      assert.deepEqual(unknown, [], 'metrics no code exports');
    },
  );

  it('alert-rules.yml and the dashboards read no deprecated name', () => {
    const rules = parse(readFileSync(`${OBS}/alert-rules.yml`, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const exprs = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...files.flatMap((file) => dashboardExprs(file))];
    const deprecated = exprs.flatMap((expr) => metricNamesIn(expr).filter((name) => isDeprecated(name)));
    assert.deepEqual(deprecated, []);
  });

  it('every metric the server or a worker exports has a panel that reads it (a deprecated one: its replacements have)', () => {
    const read = new Set(files.flatMap((file) => dashboardExprs(file)).flatMap(metricNamesIn));
    const readsFamily = (f: MetricFamily) => read.has(f.name) || [...exportedNames([f])].some((name) => read.has(name));
    const ours = families.filter((f) => f.name.startsWith('compliance_sync_'));
    assert.ok(ours.length >= 20, `${ours.length} families of ours`);
    const missing: string[] = [];
    for (const family of ours) {
      const replacements = DEPRECATED[family.name];
      if (replacements) {
        // The HELP says so, and the names that replace it are exported and on a panel.
        assert.equal(family.help?.startsWith(`Deprecated: use ${replacements.join(' and ')}.`), true, `${family.name}: ${family.help}`);
        for (const name of replacements) if (!read.has(name)) missing.push(`${name} (replaces ${family.name})`);
        continue;
      }
      const prefix = DEPRECATED_PROCESS_PREFIXES.find((p) => family.name.startsWith(p));
      const standard = prefix === undefined ? undefined : family.name.slice(prefix.length);
      if (standard !== undefined && families.some((f) => f.name === standard)) {
        // prom-client's process metrics under their old prefix: stock Node.js dashboards read the standard name.
        assert.equal(family.help?.startsWith(`Deprecated: use ${standard}.`), true, `${family.name}: ${family.help}`);
        continue;
      }
      assert.ok(!family.help?.startsWith('Deprecated'), `${family.name} says it is deprecated but is not in this test's list`);
      if (!readsFamily(family)) missing.push(family.name);
    }
    assert.deepEqual(missing, [], 'metrics no panel reads');
    // The list here is the code's list: a name deprecated in code must be deprecated here too, and the other way round.
    assert.deepEqual(Object.keys(DEPRECATED).sort(), Object.keys(DEPRECATED_METRICS).sort());
    for (const name of Object.keys(DEPRECATED))
      assert.ok(
        families.some((f) => f.name === name),
        `${name} is still exported`,
      );
  });

  it('per-tenant panels: a tenant variable read from a tenant-labelled metric, and panels that filter by it', () => {
    const dashboard = JSON.parse(readFileSync(`${DASHBOARDS}/compliance-sync.json`, 'utf8')) as {
      panels?: Panel[];
      templating: { list: { name: string; type: string; definition?: string; includeAll?: boolean; multi?: boolean }[] };
    };
    const variable = dashboard.templating.list.find((v) => v.name === 'tenant');
    assert.ok(variable && variable.type === 'query' && variable.includeAll && variable.multi, JSON.stringify(variable));
    const match = /^label_values\((\w+), tenant\)$/.exec(variable.definition ?? '');
    assert.ok(match, variable.definition);
    const source = families.find((f) => f.name === match[1]);
    assert.ok(
      source?.samples.some((s) => s.labels.tenant === 'default'),
      `${match[1]} has tenant labels`,
    );
    const filtersByTenant = (p: Panel) => (p.targets ?? []).some((t) => (t.expr ?? '').includes('tenant=~"$tenant"'));
    const perTenant = allPanels(dashboard.panels).filter((p) => p.type !== 'row' && filtersByTenant(p));
    assert.ok(perTenant.length >= 5, perTenant.map((p) => p.title).join(', '));
    const tenantMetrics = new Set(perTenant.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr ?? ''))));
    const expected = ['worker_rows_finished_total', 'worker_throttled_total', 'tenant_queue_jobs', 'tenant_breaker_tripped'];
    for (const name of expected.map((n) => `compliance_sync_${n}`)) {
      assert.ok(tenantMetrics.has(name), `a per-tenant panel reads ${name}`);
    }
    for (const p of perTenant) assert.match(p.title ?? '', /tenant/i, 'a per-tenant panel says so in its title');
  });

  it('panel titles are distinct and say what they plot: a rate says per what, a level names its unit', () => {
    for (const file of files) {
      const dashboard = JSON.parse(readFileSync(`${DASHBOARDS}/${file}`, 'utf8')) as { panels?: Panel[] };
      const panels = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
      const titles = panels.map((p) => p.title ?? '');
      assert.equal(new Set(titles).size, titles.length, 'distinct titles');
      for (const panel of panels) {
        // A latency read from a histogram is in seconds, though it reads the buckets, sum and count through rate().
        const readsRate = (expr = '') => /\b(rate|increase)\(/.test(expr) && !/_(bucket|sum|count)\b/.test(expr);
        const isRate = (panel.targets ?? []).some((t) => readsRate(t.expr));
        if (isRate) assert.match(panel.title ?? '', /\bper (second|minute|hour)\b/, `${panel.title}: a rate says per what`);
        else assert.match(panel.title ?? '', /\((rows|jobs|runs|seconds|bytes|1 = [a-z]+)\)/, `${panel.title}: a level names its unit`);
      }
    }
  });

  it('is stored in the repo', () => {
    assert.ok(files.length > 0);
  });

  for (const file of files) {
    it(`${file}: every panel queries only metrics that the server or a worker exports`, () => {
      const dashboard = JSON.parse(readFileSync(`${DASHBOARDS}/${file}`, 'utf8')) as { uid?: string; panels?: Panel[] };
      assert.ok(dashboard.uid);
      const panels = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
      assert.ok(panels.length >= 6, 'the panels the issue asks for');
      const unknown: string[] = [];
      for (const panel of panels) {
        const exprs = (panel.targets ?? []).map((target) => target.expr ?? '');
        assert.ok(exprs.length > 0, `${panel.title}: has queries`);
        for (const expr of exprs) {
          const names = metricNamesIn(expr);
          assert.ok(names.length > 0, `${panel.title}: "${expr}" reads a metric`);
          for (const name of names) if (!exported.has(name)) unknown.push(`${panel.title}: ${name}`);
        }
      }
      assert.deepEqual(unknown, [], 'metrics no code exports');
    });

    it(`${file}: every panel reads the dashboard's datasource variable, a Prometheus one, never a fixed uid`, () => {
      const dashboard = JSON.parse(readFileSync(`${DASHBOARDS}/${file}`, 'utf8')) as {
        panels?: Panel[];
        templating?: { list?: { name: string; type: string; query?: string }[] };
      };
      // A fixed uid only works with our provisioning; a variable lets a dashboard imported into another Grafana pick its own Prometheus.
      const variable = dashboard.templating?.list?.find((v) => v.type === 'datasource');
      assert.ok(variable, 'a datasource variable');
      assert.equal(variable.query, 'prometheus');
      const ref = `\${${variable.name}}`;
      for (const panel of allPanels(dashboard.panels).filter((p) => p.type !== 'row')) {
        assert.equal(panel.datasource?.uid, ref, panel.title);
        for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid ?? ref, ref, `${panel.title} ${target.refId}`);
      }
      // The provisioned datasource is Grafana's default, which the variable starts on.
      const datasources = parse(readFileSync(`${OBS}/grafana/provisioning/datasources/prometheus.yml`, 'utf8')) as {
        datasources: { type: string; isDefault?: boolean }[];
      };
      assert.ok(datasources.datasources.some((d) => d.type === 'prometheus' && d.isDefault === true));
    });
  }
});

describe('Prometheus and Grafana in docker-compose.yml', () => {
  interface Service {
    image?: string;
    command?: string[];
    volumes?: string[];
    ports?: string[];
  }
  const compose = parse(readFileSync(`${REPO_ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as { services: Record<string, Service> };
  const flag = (service: Service, name: string) => service.command?.[service.command.indexOf(name) + 1];

  it("scrapes the server's port and every worker replica's --metrics-port, found through Docker's DNS", () => {
    const prometheus = compose.services.prometheus;
    assert.ok(prometheus?.image?.startsWith('prom/prometheus'));
    const mount = prometheus.volumes!.find((v) => v.includes('prometheus.yml'))!;
    const [source] = mount.split(':');
    assert.ok(existsSync(`${REPO_ROOT}${source.replace(/^\.\//, '')}`), source);
    const config = parse(readFileSync(`${OBS}/prometheus.yml`, 'utf8')) as {
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; type: string; port: number }[];
      }[];
    };
    const jobs = new Map(config.scrape_configs.map((j) => [j.job_name, j]));
    assert.deepEqual(jobs.get('compliance-sync-server')?.static_configs?.[0].targets, [
      `server:${flag(compose.services.server, '--port')}`,
    ]);
    const dns = jobs.get('compliance-sync-worker')?.dns_sd_configs?.[0];
    assert.deepEqual(dns?.names, ['worker']);
    assert.equal(dns?.type, 'A');
    assert.equal(String(dns?.port), flag(compose.services.worker, '--metrics-port'));
    assert.equal(flag(compose.services.worker, '--metrics-host'), '0.0.0.0', 'reachable from the prometheus container');
    // The demo profile's fleet, the same way.
    assert.deepEqual(jobs.get('compliance-sync-demo-server')?.static_configs?.[0].targets, [
      `demo-server:${flag(compose.services['demo-server'], '--port')}`,
    ]);
    const demo = jobs.get('compliance-sync-demo-worker')?.dns_sd_configs?.[0];
    assert.deepEqual(demo?.names, ['demo-worker']);
    assert.equal(String(demo?.port), flag(compose.services['demo-worker'], '--metrics-port'));
    assert.equal(flag(compose.services['demo-worker'], '--metrics-host'), '0.0.0.0');
  });

  it('loads the alert rules: prometheus.yml names the file where docker-compose.yml mounts it', () => {
    const config = parse(readFileSync(`${OBS}/prometheus.yml`, 'utf8')) as { rule_files?: string[] };
    const mounts = new Map(compose.services.prometheus.volumes!.map((v) => [v.split(':')[1], v.split(':')[0]]));
    assert.ok((config.rule_files ?? []).length > 0);
    for (const file of config.rule_files!) {
      const source = mounts.get(file);
      assert.ok(source, `${file} is mounted`);
      assert.ok(existsSync(`${REPO_ROOT}${source.replace(/^\.\//, '')}`), source);
    }
  });

  it('provisions Grafana with that Prometheus and the stored dashboards', () => {
    const grafana = compose.services.grafana;
    assert.ok(grafana?.image?.startsWith('grafana/grafana'));
    const mounts = new Map(grafana.volumes!.map((v) => [v.split(':')[1], v.split(':')[0]]));
    assert.equal(mounts.get('/etc/grafana/provisioning'), './src/server/observability/grafana/provisioning');
    const provider = parse(readFileSync(`${OBS}/grafana/provisioning/dashboards/compliance-sync.yml`, 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    assert.equal(mounts.get(provider.providers[0].options.path), './src/server/observability/grafana/dashboards');
    const datasources = parse(readFileSync(`${OBS}/grafana/provisioning/datasources/prometheus.yml`, 'utf8')) as {
      datasources: { url: string; type: string }[];
    };
    assert.equal(datasources.datasources[0].type, 'prometheus');
    assert.equal(datasources.datasources[0].url, 'http://prometheus:9090');
    assert.ok(compose.services.prometheus.ports!.some((p) => p.endsWith(':9090')));
  });
});

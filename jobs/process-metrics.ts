import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * prom-client's process and Node.js metrics under their standard names (process_cpu_seconds_total,
 * nodejs_heap_size_used_bytes, ...), so stock Node.js dashboards work, registered in `registry`.
 *
 * Releases before this one exported them with a prefix (`compliance_sync_server_`, `compliance_sync_worker_`). Those
 * names are kept for one release as deprecated duplicates: the returned function renders them, each HELP saying
 * "Deprecated: use <standard name>", for the caller to append to its scrape.
 */
export function registerProcessMetrics(registry: Registry, deprecatedPrefix: string): () => Promise<string> {
  collectDefaultMetrics({ register: registry });
  const deprecated = new Registry();
  collectDefaultMetrics({ register: deprecated, prefix: deprecatedPrefix });
  return async () => deprecateHelp(await deprecated.metrics(), deprecatedPrefix);
}

/** Prefixes each `# HELP <prefix><name> ...` line's text with "Deprecated: use <name>." (pure, for the above). */
export function deprecateHelp(text: string, prefix: string): string {
  return text.replace(/^# HELP (\S+) (.*)$/gm, (line, name: string, help: string) =>
    name.startsWith(prefix) ? `# HELP ${name} Deprecated: use ${name.slice(prefix.length)}. ${help}` : line,
  );
}

/**
 * The layering, checked in CI (`npm run lint:layers`). Data flows one way: each layer imports only the layers
 * below it, never one above. Top to bottom (README "Development"):
 */
const LAYERS = [
  ['cli', '^src/cli/'],
  ['server', '^src/server/'],
  ['jobs', '^jobs/'],
  ['producer', '^src/producer/'],
  // A tenant (src/tenants/tenant.ts) builds its queue, budgets, breakers and Graph client: above pacing, queue and graph.
  ['tenants', '^src/tenants/'],
  ['pacing', '^src/pacing/'],
  ['queue', '^src/queue/'],
  ['graph', '^src/graph/'],
  ['results', '^src/results/'],
  ['sources', '^src/sources/'],
  ['domain', '^src/domain/'],
  // Shared at the bottom: configuration, types, errors, the Redis layout and scripts, logging.
  ['base', '^src/(config|clouds|console-routing|errors|interfaces|logger|redis-layout|redact-url)\\.ts$|^src/scripts/'],
];

const above = (index) =>
  LAYERS.slice(0, index)
    .map(([, path]) => `(${path})`)
    .join('|');

module.exports = {
  forbidden: [
    ...LAYERS.slice(1).map(([name, path], index) => ({
      name: `no-upward-import-from-${name}`,
      comment: `${name} may import only the layers below it`,
      severity: 'error',
      from: { path },
      to: { path: above(index + 1) },
    })),
    {
      name: 'simulator-stands-alone',
      comment: "The Graph simulator keeps its own reading of Graph's rules, so it can catch our mistakes: it imports nothing of ours",
      severity: 'error',
      from: { path: '^src/simulator/' },
      to: { path: '^(src|jobs)/', pathNot: '^src/simulator/' },
    },
    {
      name: 'only-cli-starts-the-simulator',
      comment: "Production code never depends on the simulator; the CLI's simulate and demo commands start it",
      severity: 'error',
      from: { path: '^(src|jobs)/', pathNot: '^src/(simulator|cli)/' },
      to: { path: '^src/simulator/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-test-code-in-production',
      severity: 'error',
      from: { path: '^(src|jobs)/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};

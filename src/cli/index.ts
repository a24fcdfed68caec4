import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { OperatorError, EXIT } from '../errors.js';

/** The package's version, read from package.json (two levels up from both src/cli and dist/cli). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/**
 * Each command's module is loaded only when that command runs: loading all of them (fastify, Bull Board,
 * @azure/identity, the simulator...) would double start-up time and the import's baseline memory.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  import: async () => (await import('./import.js')).importCommand,
  worker: async () => (await import('./worker.js')).workerCommand,
  status: async () => (await import('./status.js')).statusCommand,
  runs: async () => (await import('./runs.js')).runsCommand,
  cancel: async () => (await import('./cancel.js')).cancelCommand,
  report: async () => (await import('./report.js')).reportCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  retry: async () => (await import('./retry.js')).retryCommand,
  resume: async () => (await import('./resume.js')).resumeCommand,
  prune: async () => (await import('./prune.js')).pruneCommand,
  schedule: async () => (await import('./schedule.js')).scheduleCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  simulate: async () => (await import('./simulate.js')).simulateCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  doctor: async () => (await import('./doctor.js')).doctorCommand,
};

// `report <run> | head -1`: a reader that closed the pipe has all it wanted. End quietly, as Unix tools do,
// instead of an EPIPE stack trace (one place for every command that writes to stdout).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
}

const program = new Command('compliance-sync')
  .description('Sync per-user compliance results into Microsoft Intune (Graph userStatuses) through a paced, retried BullMQ fleet')
  .version(packageVersion(), '-V, --version', 'print the package version')
  .addOption(
    new Option(
      '--log-format <format>',
      'logs on stderr as readable lines or JSON (default: pretty on a terminal, JSON otherwise; env SYNC_LOG_FORMAT)',
    ).choices(['pretty', 'json']),
  )
  .showHelpAfterError()
  .addHelpText(
    'after',
    '\nConfiguration is environment variables (REDIS_URL or SYNC_REDIS_CLUSTER, ' +
      'SYNC_PREFIX, GRAPH_CLOUD, GRAPH_BASE_URL, GRAPH_ACCESS_TOKEN, AZURE_*, ' +
      'SYNC_RATE_LIMIT, ...); see README.md.',
  );

// --log-format, before or after the command's name, wins over SYNC_LOG_FORMAT: every command's config reads it from there.
program.hook('preAction', (root) => {
  const { logFormat } = root.opts<{ logFormat?: string }>();
  if (logFormat) process.env.SYNC_LOG_FORMAT = logFormat;
});

// The command's name: the first argument that is not the global option (or its value).
const requested = process.argv
  .slice(2)
  .find((arg, i, args) => !arg.startsWith('--log-format') && !(i > 0 && args[i - 1] === '--log-format'));
const loaders = requested !== undefined && Object.hasOwn(COMMANDS, requested) ? [COMMANDS[requested]] : Object.values(COMMANDS);
for (const load of loaders) program.addCommand(await load());

// Usage errors exit 2 everywhere, so scripts can tell a typo from a failed run.
function exitOverrideAll(command: Command) {
  command.exitOverride();
  command.commands.forEach(exitOverrideAll);
}
exitOverrideAll(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage);
  }
  // An OperatorError's message says it all; anything else may be a bug, and prints its stack at debug level.
  const expected = err instanceof OperatorError;
  process.stderr.write(`error: ${(err as Error).message}\n`);
  if (!expected && process.env.SYNC_LOG_LEVEL === 'debug') process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(expected ? err.exitCode : EXIT.failure);
}

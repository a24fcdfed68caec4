import { Command, CommanderError } from 'commander';
import { RedisUnavailableError } from '../queue/connection.js';
import { MissingCredentialsError } from '../graph/auth.js';
import { demoCommand } from './demo.js';
import { importCommand } from './import.js';
import { reportCommand } from './report.js';
import { resumeCommand } from './resume.js';
import { retryCommand } from './retry.js';
import { scheduleCommand } from './schedule.js';
import { serveCommand } from './serve.js';
import { CliError, EXIT } from './shared.js';
import { simulateCommand } from './simulate.js';
import { statusCommand } from './status.js';
import { workerCommand } from './worker.js';

const program = new Command('compliance-sync')
  .description('Sync per-user compliance results into Microsoft Intune (Graph userStatuses) through a paced, retried BullMQ fleet')
  .showHelpAfterError()
  .addHelpText('after', '\nConfiguration is environment variables (REDIS_URL, SYNC_PREFIX, GRAPH_CLOUD, GRAPH_BASE_URL, GRAPH_ACCESS_TOKEN, AZURE_*, SYNC_RATE_LIMIT, ...); see README.md.');

for (const command of [importCommand, workerCommand, statusCommand, reportCommand, retryCommand, resumeCommand, scheduleCommand, serveCommand, simulateCommand, demoCommand]) {
  program.addCommand(command);
}

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
  const code = err instanceof CliError ? err.exitCode : EXIT.failure;
  const known = err instanceof CliError || err instanceof RedisUnavailableError || err instanceof MissingCredentialsError;
  process.stderr.write(`error: ${(err as Error).message}\n`);
  if (!known && process.env.SYNC_LOG_LEVEL === 'debug') process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(code);
}

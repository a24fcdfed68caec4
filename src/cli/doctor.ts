import { Command } from 'commander';
import { EXIT } from '../errors.js';
import { doctorFailed, formatCheck, runDoctor } from './doctor-checks.js';
import { printJson } from './shared.js';

export const doctorCommand = new Command('doctor')
  .description('Check everything a run needs (Redis, configuration, credentials, clock) and say what to fix')
  .option('--json', 'print the checks as one JSON object')
  .addHelpText(
    'after',
    `
Prints one line per check: ok, warn or fail, with what was found and, unless ok, what to do about it.
Checks: Redis is reachable, its version is one BullMQ accepts, maxmemory-policy is noeviction (fail otherwise),
AOF is on (warn otherwise), memory used against maxmemory, not a cluster; the configuration (cloud, Graph
host and API version, write budget, credentials); a token can be acquired, is for the cloud's Graph host and
grants DeviceManagementConfiguration.ReadWrite.All or DeviceManagementApps.ReadWrite.All (a token that is not
a JWT, like the simulator's, gets a warning); this machine's clock against Redis's TIME (warn over 2 s).
No token or secret is ever printed.

--json: the last line is {"checks":[{"name","result","detail","fix"}]} (result ok | warn | fail; fix is "" when ok).
Exit codes: 0 no check failed (warnings do not fail), 1 a check failed, 2 bad usage.`,
  )
  .action(async (flags: { json?: boolean }) => {
    const checks = await runDoctor(process.env);
    if (flags.json) printJson({ checks });
    else process.stdout.write(`${checks.map(formatCheck).join('\n')}\n`);
    process.exitCode = doctorFailed(checks) ? EXIT.failure : EXIT.ok;
  });

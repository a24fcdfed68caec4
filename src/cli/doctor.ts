import { Command, Option } from 'commander';
import { idProblem } from '../domain/validate.js';
import { EXIT, OperatorError } from '../errors.js';
import { CONFIGURATION_TYPES, type ConfigurationType } from '../interfaces.js';
import { doctorFailed, formatCheck, runDoctor } from './doctor-checks.js';
import { parseProbeWriteTarget } from './doctor-probe-write.js';
import { printJson } from './shared.js';

export const doctorCommand = new Command('doctor')
  .description('Check everything a run needs (Redis, configuration, credentials, clock) and say what to fix')
  .option('--json', 'print the checks as one JSON object')
  .option(
    '--probe <configurationId>',
    "also read that configuration's user statuses once ($top=1, within the read budget): proves host, token and permission end to end",
  )
  .option(
    '--probe-write <configurationId/userStatusId>',
    'also read that user status and PATCH it back with exactly the values it holds: ' +
      'proves Graph accepts our write on this route, changes nothing',
  )
  .addOption(
    new Option('--probe-type <type>', 'the type of the --probe and --probe-write configuration')
      .choices([...CONFIGURATION_TYPES])
      .default('mobileAppConfiguration'),
  )
  .addHelpText(
    'after',
    `
Prints one line per check: ok, warn or fail, with what was found and, unless ok, what to do about it.
Checks: Redis is reachable, its version is one BullMQ accepts, maxmemory-policy is noeviction (fail otherwise),
AOF is on (warn otherwise), memory used against maxmemory, not a cluster; the configuration (cloud, the Graph
host requests go to, API version, write budget; which credential and from which variable, failing when
GRAPH_ACCESS_TOKEN and AZURE_* are both set; each tenant of SYNC_TENANTS_FILE with its Graph host); a token can be
acquired, is for the cloud's Graph host and grants DeviceManagementConfiguration.ReadWrite.All or
DeviceManagementApps.ReadWrite.All (under GRAPH_API_VERSION v1.0 only the latter; a token that is not a JWT, like
the simulator's, gets a warning); this machine's clock against Redis's TIME (warn over 2 s); with
--probe, one read of that configuration's user statuses (graph.probe: a 404, 403 or 401 fails naming the fix); with
--probe-write, one GET of that user status and one PATCH of exactly the values it holds (graph.probe-write: fails naming
the refusal, no route (400 No OData route exists ...), 403 permission or 404, and the fix; never changes a value).
No token or secret is ever printed.

--json: the last line is {"checks":[{"name","result","detail","fix"}]} (result ok | warn | fail; fix is "" when ok).
Exit codes: 0 no check failed (warnings do not fail), 1 a check failed, 2 bad usage.`,
  )
  .action(async (flags: { json?: boolean; probe?: string; probeWrite?: string; probeType: ConfigurationType }) => {
    const problem = flags.probe === undefined ? undefined : idProblem(flags.probe);
    if (problem) throw new OperatorError(`--probe: ${problem}`, EXIT.usage);
    const writeTarget = flags.probeWrite === undefined ? undefined : parseProbeWriteTarget(flags.probeWrite);
    if (writeTarget && 'problem' in writeTarget) throw new OperatorError(`--probe-write: ${writeTarget.problem}`, EXIT.usage);
    const checks = await runDoctor(
      process.env,
      flags.probe === undefined ? undefined : { configurationId: flags.probe, configurationType: flags.probeType },
      writeTarget ? { ...writeTarget, configurationType: flags.probeType } : undefined,
    );
    if (flags.json) printJson({ checks });
    else process.stdout.write(`${checks.map(formatCheck).join('\n')}\n`);
    process.exitCode = doctorFailed(checks) ? EXIT.failure : EXIT.ok;
  });

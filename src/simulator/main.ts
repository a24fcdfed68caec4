// Standalone entry: `npx tsx src/simulator/main.ts --port 4000 [--host 127.0.0.1] [--seed 1] [--no-budget]`.
// Prints one JSON line with the URL so a parent process can read where to connect.
import { parseArgs } from 'node:util';
import { startSimulator } from './server.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    seed: { type: 'string' },
    'no-budget': { type: 'boolean' },
    logger: { type: 'boolean' },
  },
});

const sim = await startSimulator({
  host: values.host,
  port: values.port === undefined ? 0 : Number(values.port),
  seed: values.seed === undefined ? undefined : Number(values.seed),
  budget: values['no-budget'] ? false : undefined,
  logger: values.logger ?? false,
});
process.stdout.write(`${JSON.stringify({ url: sim.url, port: sim.port })}\n`);

const stop = (): void => {
  void sim.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
